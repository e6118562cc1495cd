"""HTTP routes of allocation rounds: open one, apply (the cost is held), close it, read it."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Conn
from incentives_kernel.events import ID_PATTERN, Identifier
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import AwareDatetime, BaseModel, Field

from . import repository as repo
from . import rounds
from .lifecycle import HOLDS_PLACE, WITHDRAWN, ApplicationStatus, ResultStatus, RoundStatus
from .saga import Deps


class RoundIn(BaseModel):
    round_id: Identifier
    reward_id: Identifier
    quota: int = Field(gt=0, le=100_000)
    opens_at: AwareDatetime | None = Field(default=None, description="default: now")
    closes_at: AwareDatetime
    seed: str | None = Field(
        default=None,
        min_length=16,
        max_length=128,
        description="the operator's part of the lottery seed: always mixed with the server's own randomness",
    )


class RoundFilter(StrEnum):
    """What the list of rounds filters on: a round's status or its result's."""

    OPEN = RoundStatus.OPEN.value
    CLOSING = RoundStatus.CLOSING.value
    CLOSED = RoundStatus.CLOSED.value
    PROVISIONAL = ResultStatus.PROVISIONAL.value
    FINAL = ResultStatus.FINAL.value


class NoticePlace(StrEnum):
    """Where a ranked applicant is now, in the public notice's words."""

    HOLDS_PLACE = "holds_place"
    DISQUALIFIED = "disqualified"
    NOT_PLACED = "not_placed"
    WITHDRAWN = "withdrawn"


class ApplicationIn(BaseModel):
    member_id: Identifier


class Application(BaseModel):
    round_id: str
    member_id: str
    status: str = Field(
        description="pending | held | rejected | winning | won | lost | offered | forfeited | cancelled | disqualified"
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
    disqualified_at: datetime | None = None


class Round(BaseModel):
    round_id: str
    reward_id: str
    quota: int
    opens_at: datetime
    closes_at: datetime
    status: str = Field(description="open | closing (waiting for the last holds to be answered) | closed")
    result_status: str | None = Field(description="closed: provisional (public notice) | final")
    notice_ends_at: datetime | None
    finalised_at: datetime | None
    seed_sha256: str = Field(description="published at opening: the seed cannot be chosen after the fact")
    seed: str | None = Field(description="revealed once the round is closed: sha256(server_seed:operator_seed)")
    server_seed: str | None = Field(description="the server's randomness drawn at opening; revealed at the close")
    operator_seed: str | None = Field(description="the operator's seed, if one was given; revealed at the close")
    seed_generated: bool
    time_resolution_s: int
    created_at: datetime = Field(description="when it was opened (`opens_at`: when it takes applications)")
    opened_by: str | None = Field(
        description="who opened it: operator:<name> or operator:<token fingerprint> (null: before this was recorded)"
    )
    closed_at: datetime | None
    closed_by: str | None
    standings_day: str | None
    result_sha256: str | None = Field(description="SHA-256 of the ranking: `incentives rewards verify-round`")
    applications: list[Application]


class RoundSummary(BaseModel):
    round_id: str
    reward_id: str
    quota: int
    opens_at: datetime
    closes_at: datetime
    status: str
    result_status: str | None
    notice_ends_at: datetime | None
    applicants: int
    created_at: datetime
    opened_by: str | None


class RoundPage(BaseModel):
    items: list[RoundSummary]
    next_cursor: str | None


class NoticeEntry(BaseModel):
    rank: int | None
    member: str = Field(description="the member id masked: rider-****01")
    star_level: int | None
    earned_365d: int | None
    won_at_close: bool | None
    status: str = Field(description="holds_place | disqualified | not_placed | withdrawn")
    reason: str | None = Field(description="a disqualification's reason")


class Notice(BaseModel):
    round_id: str
    reward_id: str
    reward_name: str
    quota: int
    status: str = Field(description="open | closing | provisional | final")
    notice_ends_at: datetime | None
    ranking: list[NoticeEntry]


class DisqualificationIn(BaseModel):
    member_id: Identifier
    reason: str = Field(min_length=1, max_length=500)


class Disqualification(BaseModel):
    round_id: str
    member_id: str
    reason: str
    promoted: str | None = Field(description="the member the place passed on to (null: nobody left)")
    application: Application


def mask_member(member_id: str) -> str:
    """`rider-000101` -> `rider-****01`: enough to find oneself on the notice, not to name others."""
    cut = member_id.rfind("-") + 1
    return f"{member_id[:cut]}****{member_id[cut:][-2:]}"


def _notice_status(status: str) -> NoticePlace:
    if status in HOLDS_PLACE:
        return NoticePlace.HOLDS_PLACE
    if status == ApplicationStatus.DISQUALIFIED:
        return NoticePlace.DISQUALIFIED
    return NoticePlace.WITHDRAWN if status in WITHDRAWN else NoticePlace.NOT_PLACED


async def _round(conn: Conn, round_id: str) -> Round:
    row = await repo.get_round(conn, round_id)
    if row is None:
        raise ApiError(404, "not_found", f"no allocation round {round_id}")
    apps = [Application(**{k: a[k] for k in Application.model_fields}) for a in await repo.applications(conn, round_id)]
    secret = ("seed", "server_seed", "operator_seed")
    fields: dict[str, Any] = {
        k: row[k] for k in Round.model_fields if k not in (*secret, "applications", "standings_day")
    }
    closed = row["status"] == RoundStatus.CLOSED
    return Round(
        **fields,
        **{k: row[k] if closed else None for k in secret},
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
    async def open_round(body: RoundIn, request: Request) -> Round:
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
                by=who(request),
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

    @router.get("/allocation-rounds", response_model=RoundPage, dependencies=[operator])
    async def list_rounds(
        status: RoundFilter | None = None,
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> RoundPage:
        after = decode_cursor(cursor, datetime, str)
        async with runtime.pool.acquire() as conn:
            rows = await repo.list_rounds(conn, status, limit + 1, (after[0], after[1]) if after else None)
        last = rows[limit - 1] if len(rows) > limit else None
        nxt = encode_cursor([last["created_at"].isoformat(), last["round_id"]]) if last else None
        items = [RoundSummary(**{k: r[k] for k in RoundSummary.model_fields}) for r in rows[:limit]]
        return RoundPage(items=items, next_cursor=nxt)

    @router.get(
        "/allocation-rounds/{round_id}/notice",
        response_model=Notice,
        dependencies=[runtime.require(Role.GATEWAY)],
        responses=errors(404),
    )
    async def notice(round_id: str = Path(pattern=ID_PATTERN)) -> Notice:
        async with runtime.pool.acquire() as conn:
            row = await repo.get_round(conn, round_id)
            if row is None:
                raise ApiError(404, "not_found", f"no allocation round {round_id}")
            reward = await repo.get_reward(conn, row["reward_id"])
            apps = await repo.applications(conn, round_id)
        assert reward is not None
        ranking = [
            NoticeEntry(
                rank=a["rank"],
                member=mask_member(a["member_id"]),
                star_level=a["star_level"],
                earned_365d=a["earned_365d"],
                won_at_close=a["won_at_close"],
                status=_notice_status(a["status"]),
                reason=a["reason"] if a["status"] == ApplicationStatus.DISQUALIFIED else None,
            )
            for a in apps
            if a["rank"] is not None
        ]
        return Notice(
            round_id=round_id,
            reward_id=row["reward_id"],
            reward_name=reward["name"],
            quota=row["quota"],
            status=row["result_status"] or row["status"],
            notice_ends_at=row["notice_ends_at"],
            ranking=ranking,
        )

    @router.post(
        "/allocation-rounds/{round_id}/disqualifications",
        response_model=Disqualification,
        status_code=201,
        dependencies=[operator],
        responses=errors(404, 409),
    )
    async def disqualify(
        body: DisqualificationIn, request: Request, round_id: str = Path(pattern=ID_PATTERN)
    ) -> Disqualification:
        async with runtime.unit_of_work() as uow:
            app, promoted = await rounds.disqualify(
                uow, round_id, body.member_id, reason=body.reason, by=who(request), deps=deps
            )
        return Disqualification(
            round_id=round_id,
            member_id=body.member_id,
            reason=app["reason"],
            promoted=promoted,
            application=Application(**{k: app[k] for k in Application.model_fields}),
        )

    @router.get("/allocation-rounds/{round_id}", response_model=Round, dependencies=[reader], responses=errors(404))
    async def get_round(round_id: str = Path(pattern=ID_PATTERN)) -> Round:
        async with runtime.pool.acquire() as conn:
            return await _round(conn, round_id)

    return router
