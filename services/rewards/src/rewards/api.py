"""HTTP routes of the rewards service: the catalogue and stock, redemptions, allocation rounds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import asyncpg
from fastapi import APIRouter, Path, Query, Request
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Conn
from incentives_kernel.events import ID_PATTERN, Identifier
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import AwareDatetime, BaseModel, Field, ValidationError, field_validator, model_validator

from . import repository as repo
from . import rounds, saga, usecases
from .saga import Conflict, Deps, OnCommit

T = TypeVar("T")


class RewardFields(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=2000)
    kind: Literal["instant", "allocation"]
    cost_points: int = Field(gt=0, le=1_000_000)
    min_star_level: int = Field(default=0, ge=0, le=5)
    per_member_limit: int | None = Field(default=None, gt=0, le=1000, description="per calendar year")
    districts: list[str] = Field(default_factory=list, max_length=100, description="empty = all districts")
    active_from: datetime | None = None
    active_until: datetime | None = None

    @model_validator(mode="after")
    def _window(self) -> RewardFields:
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            raise ValueError("active_until must be after active_from")
        return self


class RewardIn(RewardFields):
    reward_id: str = Field(pattern=ID_PATTERN)
    initial_stock: int = Field(default=0, ge=0, le=1_000_000)


class RewardPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    cost_points: int | None = Field(default=None, gt=0, le=1_000_000)
    min_star_level: int | None = Field(default=None, ge=0, le=5)
    per_member_limit: int | None = Field(default=None, gt=0, le=1000)
    districts: list[str] | None = Field(default=None, max_length=100)
    active_from: datetime | None = None
    active_until: datetime | None = None


class Reward(RewardFields):
    reward_id: str
    stock_available: int


class StockIn(BaseModel):
    delta: int = Field(ge=-1_000_000, le=1_000_000, description="non-zero")
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("delta")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class StockChange(BaseModel):
    delta: int
    reason: str
    actor: str = Field(description="operator:<token fingerprint>, or redemption:<id> for the saga's reservations")
    stock_after: int
    changed_at: datetime


class StockOut(BaseModel):
    reward_id: str
    stock_available: int


def _out(row: asyncpg.Record) -> Reward:
    return Reward(**{k: row[k] for k in Reward.model_fields})


class RedemptionIn(BaseModel):
    redemption_id: Identifier
    member_id: Identifier
    reward_id: Identifier


class CancelIn(BaseModel):
    reason: str = Field(default="cancelled on request", min_length=1, max_length=500)
    member_id: Identifier | None = Field(
        default=None, description="the member the gateway acts for: the redemption must be theirs (else 404)"
    )


class Step(BaseModel):
    step: str
    detail: str | None
    at: datetime


class Redemption(BaseModel):
    redemption_id: str
    member_id: str
    reward_id: str
    kind: str
    round_id: str | None
    status: str = Field(description="pending | confirmed | rejected | fulfilled | cancelled")
    reason: str | None = Field(description="rejected: the contract's reason")
    detail: str | None = Field(description="rejected: exactly what failed")
    cost_points: int
    voucher_code: str | None
    requested_via: str = Field(description="http | kafka | allocation")
    requested_at: datetime
    decided_at: datetime | None
    fulfilled_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    steps: list[Step] | None = Field(default=None, description="every step of the saga, in order (single reads)")


class RedemptionPage(BaseModel):
    items: list[Redemption]
    next_cursor: str | None


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


def _redemption(row: asyncpg.Record, steps: list[asyncpg.Record] | None = None) -> Redemption:
    fields = {k: row[k] for k in Redemption.model_fields if k != "steps"}
    return Redemption(**fields, steps=[Step(**dict(s)) for s in steps] if steps is not None else None)


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
        seed=row["seed"] if row["status"] == "closed" else None,
        standings_day=row["standings_day"].isoformat() if row["standings_day"] else None,
        applications=apps,
    )


def build_router(runtime: ServiceRuntime, deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)

    @asynccontextmanager
    async def work() -> AsyncIterator[tuple[Conn, OnCommit]]:
        """One transaction; after it commits: its metrics, and the relay woken for what it published."""
        on_commit: OnCommit = []
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                yield conn, on_commit
        except LookupError as exc:
            raise ApiError(404, "not_found", f"not found: {exc}") from None
        except Conflict as exc:
            raise ApiError(409, exc.code, str(exc)) from None
        for done in on_commit:
            done()
        runtime.wake_relay()

    def who(request: Request) -> str:
        return f"operator:{runtime.auth.fingerprint(request)}"

    @router.get("/rewards", response_model=list[Reward], dependencies=[reader])
    async def list_rewards() -> list[Reward]:
        async with runtime.pool.acquire() as conn:
            return [_out(r) for r in await repo.list_rewards(conn)]

    @router.post("/rewards", response_model=Reward, status_code=201, dependencies=[operator], responses=errors(409))
    async def create_reward(body: RewardIn, request: Request) -> Reward:
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await repo.insert_reward(conn, body.model_dump(exclude={"initial_stock"}))
            if row is None:
                raise ApiError(409, "conflict", f"reward {body.reward_id} exists already")
            if body.initial_stock:
                await repo.change_stock(conn, body.reward_id, body.initial_stock, "initial stock", who(request))
            row = await repo.get_reward(conn, body.reward_id)
        assert row is not None
        return _out(row)

    @router.patch("/rewards/{reward_id}", response_model=Reward, dependencies=[operator], responses=errors(404))
    async def patch_reward(body: RewardPatch, reward_id: str = Path(pattern=ID_PATTERN)) -> Reward:
        changes = body.model_dump(exclude_unset=True)
        async with runtime.pool.acquire() as conn, conn.transaction():
            current = await repo.get_reward(conn, reward_id)
            if current is None:
                raise ApiError(404, "not_found", f"no reward {reward_id}")
            # The reward as it would be, checked whole: no null where a value is required, a valid window.
            merged = {k: current[k] for k in RewardFields.model_fields} | changes
            try:
                RewardFields.model_validate(merged)
            except ValidationError as exc:
                details = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
                raise ApiError(422, "validation_error", "the patched reward is not valid", details) from None
            row = await repo.update_reward(conn, reward_id, changes)
        assert row is not None
        return _out(row)

    @router.post(
        "/rewards/{reward_id}/stock", response_model=StockOut, dependencies=[operator], responses=errors(404, 409)
    )
    async def change_stock(body: StockIn, request: Request, reward_id: str = Path(pattern=ID_PATTERN)) -> StockOut:
        async with runtime.pool.acquire() as conn, conn.transaction():
            if await repo.get_reward(conn, reward_id) is None:
                raise ApiError(404, "not_found", f"no reward {reward_id}")
            after = await repo.change_stock(conn, reward_id, body.delta, body.reason, who(request))
        if after is None:
            raise ApiError(409, "insufficient_stock", "cannot remove more stock than is available")
        return StockOut(reward_id=reward_id, stock_available=after)

    @router.get("/rewards/{reward_id}/stock-changes", response_model=list[StockChange], dependencies=[operator])
    async def stock_changes(
        reward_id: str = Path(pattern=ID_PATTERN), limit: int = Query(100, ge=1, le=MAX_LIMIT)
    ) -> list[StockChange]:
        async with runtime.pool.acquire() as conn:
            return [StockChange(**dict(r)) for r in await repo.stock_changes(conn, reward_id, limit)]

    # ------------------------------------------------------------ redemptions

    @router.post("/redemptions", response_model=Redemption, status_code=202, responses=errors(404, 409, 429))
    async def request_redemption(body: RedemptionIn, caller: Caller = reader) -> Redemption:
        caller.act_for(body.member_id)
        runtime.throttle("redemptions", caller, body.member_id)
        async with work() as (conn, on_commit):
            row, created = await saga.request(
                conn,
                redemption_id=body.redemption_id,
                member_id=body.member_id,
                reward_id=body.reward_id,
                via="http",
                deps=deps,
                on_commit=on_commit,
            )
        if not created and (row["member_id"], row["reward_id"]) != (body.member_id, body.reward_id):
            raise ApiError(
                409, "redemption_id_reused", f"redemption {body.redemption_id} is for another member or reward"
            )
        return _redemption(row)

    @router.get("/redemptions/{redemption_id}", response_model=Redemption, responses=errors(404))
    async def get_redemption(
        redemption_id: str = Path(pattern=ID_PATTERN),
        member_id: str | None = Query(None, pattern=ID_PATTERN, description="the member the gateway acts for"),
        caller: Caller = reader,
    ) -> Redemption:
        async with runtime.pool.acquire() as conn:
            row = await repo.get_redemption(conn, redemption_id)
            if row is None or not caller.sees(row["member_id"], member_id):
                raise ApiError(404, "not_found", f"no redemption {redemption_id}")
            return _redemption(row, await repo.steps(conn, redemption_id))

    @router.get("/members/{member_id}/redemptions", response_model=RedemptionPage, dependencies=[reader])
    async def member_redemptions(
        member_id: str = Path(pattern=ID_PATTERN),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> RedemptionPage:
        after = decode_cursor(cursor, datetime, str)
        async with runtime.pool.acquire() as conn:
            rows = await repo.member_redemptions(conn, member_id, limit + 1, (after[0], after[1]) if after else None)
        last = rows[limit - 1] if len(rows) > limit else None
        nxt = encode_cursor([last["requested_at"].isoformat(), last["redemption_id"]]) if last else None
        return RedemptionPage(items=[_redemption(r) for r in rows[:limit]], next_cursor=nxt)

    @router.post("/redemptions/{redemption_id}/cancel", response_model=Redemption, responses=errors(404, 409))
    async def cancel_redemption(
        body: CancelIn, redemption_id: str = Path(pattern=ID_PATTERN), caller: Caller = reader
    ) -> Redemption:
        by = "operator" if caller.role is Role.OPERATOR else "member"
        async with work() as (conn, on_commit):
            owner = await repo.get_redemption(conn, redemption_id)
            if owner is None or not caller.sees(owner["member_id"], body.member_id):
                raise ApiError(404, "not_found", f"no redemption {redemption_id}")
            row, done = await usecases.cancel(conn, redemption_id, by=by, reason=body.reason, deps=deps)
            on_commit.extend(done)
        return _redemption(row)

    @router.post(
        "/redemptions/{redemption_id}/fulfil",
        response_model=Redemption,
        dependencies=[operator],
        responses=errors(404, 409),
    )
    async def fulfil_redemption(redemption_id: str = Path(pattern=ID_PATTERN)) -> Redemption:
        async with work() as (conn, on_commit):
            row = await saga.fulfil(conn, redemption_id, deps=deps, on_commit=on_commit)
        return _redemption(row)

    # ------------------------------------------------------------ allocation rounds

    @router.post(
        "/allocation-rounds", response_model=Round, status_code=201, dependencies=[operator], responses=errors(404, 409)
    )
    async def open_round(body: RoundIn) -> Round:
        opens_at = body.opens_at or datetime.now(UTC)
        if body.closes_at <= opens_at:
            raise ApiError(422, "validation_error", "closes_at must be after opens_at")
        async with work() as (conn, _):
            await rounds.open_round(
                conn,
                round_id=body.round_id,
                reward_id=body.reward_id,
                quota=body.quota,
                opens_at=opens_at,
                closes_at=body.closes_at,
                seed=body.seed,
                deps=deps,
            )
            return await _round(conn, body.round_id)

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
        async with work() as (conn, on_commit):
            row = await rounds.apply(conn, round_id, body.member_id, deps, on_commit)
        return Application(**{k: row[k] for k in Application.model_fields})

    @router.post(
        "/allocation-rounds/{round_id}/close", response_model=Round, dependencies=[operator], responses=errors(404, 409)
    )
    async def close_round(request: Request, round_id: str = Path(pattern=ID_PATTERN)) -> Round:
        async with work() as (conn, on_commit):
            await rounds.close(conn, round_id, by=who(request), deps=deps, on_commit=on_commit)
            return await _round(conn, round_id)

    @router.get("/allocation-rounds/{round_id}", response_model=Round, dependencies=[reader], responses=errors(404))
    async def get_round(round_id: str = Path(pattern=ID_PATTERN)) -> Round:
        async with runtime.pool.acquire() as conn:
            return await _round(conn, round_id)

    return router
