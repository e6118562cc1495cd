"""HTTP routes of allocation rounds: open one, apply (the cost is held), close it, read it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path, Request
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Conn
from incentives_kernel.events import ID_PATTERN, Identifier
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.runtime import ServiceRuntime
from pydantic import AwareDatetime, BaseModel, Field

from . import repository as repo
from . import rounds
from .lifecycle import RoundStatus
from .saga import Deps


class RoundIn(BaseModel):
    round_id: Identifier
    reward_id: Identifier
    quota: int = Field(gt=0, le=100_000)
    opens_at: AwareDatetime | None = Field(default=None, description="default: now")
    closes_at: AwareDatetime
    seed: str | None = Field(
        default=None, min_length=16, max_length=128, description="the lottery seed; generated and stored if absent"
    )


class ApplicationIn(BaseModel):
    member_id: Identifier


class Application(BaseModel):
    round_id: str
    member_id: str
    status: str = Field(
        description="pending | held | rejected | winning | won | lost | offered | forfeited | cancelled"
    )
    reason: str | None
    applied_at: datetime
    star_level: int | None = Field(description="frozen at close")
    earned_365d: int | None = Field(description="points earned in the 365 days up to the close's day")
    ranked_at: datetime | None = Field(description="the application time as ranked (cut to the round's resolution)")
    ticket: str | None = Field(description="HMAC-SHA256(seed, round_id:member_id): the lottery draw")
    rank: int | None
    won_at_close: bool | None
    tie_broken_by_lottery: bool | None
    redemption_id: str | None


class Round(BaseModel):
    round_id: str
    reward_id: str
    quota: int
    opens_at: datetime
    closes_at: datetime
    status: str
    seed_sha256: str = Field(description="published at opening: the seed cannot be chosen after the fact")
    seed: str | None = Field(description="revealed once the round is closed")
    seed_generated: bool
    time_resolution_s: int
    closed_at: datetime | None
    closed_by: str | None
    standings_day: str | None
    result_sha256: str | None = Field(description="SHA-256 of the ranking: `incentives rewards verify-round`")
    applications: list[Application]


async def _round(conn: Conn, round_id: str) -> Round:
    row = await repo.get_round(conn, round_id)
    if row is None:
        raise ApiError(404, "not_found", f"no allocation round {round_id}")
    apps = [Application(**{k: a[k] for k in Application.model_fields}) for a in await repo.applications(conn, round_id)]
    fields: dict[str, Any] = {
        k: row[k] for k in Round.model_fields if k not in ("seed", "applications", "standings_day")
    }
    return Round(
        **fields,
        seed=row["seed"] if row["status"] == RoundStatus.CLOSED else None,
        standings_day=row["standings_day"].isoformat() if row["standings_day"] else None,
        applications=apps,
    )


def build_router(runtime: ServiceRuntime, deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)

    def who(request: Request) -> str:
        return runtime.auth.actor(request)  # operator:<name>, or the token's fingerprint if unnamed

    @router.post(
        "/allocation-rounds", response_model=Round, status_code=201, dependencies=[operator], responses=errors(404, 409)
    )
    async def open_round(body: RoundIn) -> Round:
        opens_at = body.opens_at or datetime.now(UTC)
        if body.closes_at <= opens_at:
            raise ApiError(422, "validation_error", "closes_at must be after opens_at")
        async with runtime.unit_of_work() as uow:
            await rounds.open_round(
                uow,
                round_id=body.round_id,
                reward_id=body.reward_id,
                quota=body.quota,
                opens_at=opens_at,
                closes_at=body.closes_at,
                seed=body.seed,
                deps=deps,
            )
            return await _round(uow.conn, body.round_id)

    @router.post(
        "/allocation-rounds/{round_id}/applications",
        response_model=Application,
        status_code=202,
        responses=errors(404, 409, 429),
    )
    async def apply(
        body: ApplicationIn, round_id: str = Path(pattern=ID_PATTERN), caller: Caller = reader
    ) -> Application:
        caller.act_for(body.member_id)
        runtime.throttle("applications", caller, body.member_id)
        async with runtime.unit_of_work() as uow:
            row = await rounds.apply(uow, round_id, body.member_id, deps)
        return Application(**{k: row[k] for k in Application.model_fields})

    @router.post(
        "/allocation-rounds/{round_id}/close", response_model=Round, dependencies=[operator], responses=errors(404, 409)
    )
    async def close_round(request: Request, round_id: str = Path(pattern=ID_PATTERN)) -> Round:
        async with runtime.unit_of_work() as uow:
            await rounds.close(uow, round_id, by=who(request), deps=deps)
            return await _round(uow.conn, round_id)

    @router.get("/allocation-rounds/{round_id}", response_model=Round, dependencies=[reader], responses=errors(404))
    async def get_round(round_id: str = Path(pattern=ID_PATTERN)) -> Round:
        async with runtime.pool.acquire() as conn:
            return await _round(conn, round_id)

    return router
