"""HTTP routes of the rewards catalogue: rewards, their terms and their stock (operators change them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Path, Query, Request
from incentives_kernel.auth import Role
from incentives_kernel.db import Row
from incentives_kernel.events import ID_PATTERN, Identifier
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.logging import redact_text
from incentives_kernel.pagination import MAX_LIMIT
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from . import repository as repo


class RewardFields(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=2000)
    kind: Literal["instant", "allocation"]
    cost_points: int = Field(ge=0, le=1_000_000, description="0 only for an allocation reward: an award by rank")
    min_star_level: int = Field(default=0, ge=0, le=5)
    per_member_limit: int | None = Field(default=None, gt=0, le=1000, description="per calendar year")
    districts: list[str] = Field(default_factory=list, max_length=100, description="empty = all districts")
    active_from: datetime | None = None
    active_until: datetime | None = None
    places: int | None = Field(
        default=None, ge=0, le=1_000_000, description="allocation: places in all its rounds together; null: not limited"
    )
    notice_days: int = Field(
        default=5, ge=0, le=60, description="allocation: days a closed round's result is provisional"
    )
    valid_days: int = Field(default=90, ge=1, le=3660, description="a voucher's validity from its confirmation")
    refund_on_expiry: bool = Field(default=False, description="an expired voucher's points come back")
    providers: list[Identifier] = Field(
        default_factory=list, max_length=1000, description="provider ids that may redeem its vouchers; empty: any"
    )

    @model_validator(mode="after")
    def _window(self) -> RewardFields:
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            raise ValueError("active_until must be after active_from")
        if self.cost_points == 0 and self.kind != "allocation":
            raise ValueError("only an allocation reward (an award) may cost 0 points")
        return self


class RewardIn(RewardFields):
    reward_id: str = Field(pattern=ID_PATTERN)
    initial_stock: int = Field(default=0, ge=0, le=1_000_000)


class RewardPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    cost_points: int | None = Field(default=None, ge=0, le=1_000_000)
    min_star_level: int | None = Field(default=None, ge=0, le=5)
    per_member_limit: int | None = Field(default=None, gt=0, le=1000)
    districts: list[str] | None = Field(default=None, max_length=100)
    active_from: datetime | None = None
    active_until: datetime | None = None
    places: int | None = Field(default=None, ge=0, le=1_000_000)
    notice_days: int | None = Field(default=None, ge=0, le=60)
    valid_days: int | None = Field(default=None, ge=1, le=3660)
    refund_on_expiry: bool | None = None
    providers: list[Identifier] | None = Field(default=None, max_length=1000)


class Reward(RewardFields):
    reward_id: str
    stock_available: int
    created_at: datetime
    created_by: str | None = Field(
        description="who created it: operator:<name> or operator:<token fingerprint> (null: before this was recorded)"
    )
    updated_at: datetime = Field(description="the last change of its terms: its creation or a PATCH (not stock)")
    updated_by: str | None = Field(description="who made that change (null: before this was recorded)")


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
    actor: str = Field(
        description="operator:<name> (a named operator token), operator:<token fingerprint>, or redemption:<id>"
        " for the saga's reservations"
    )
    stock_after: int
    changed_at: datetime


class StockOut(BaseModel):
    reward_id: str
    stock_available: int


def _out(row: Row) -> Reward:
    return Reward(**{k: row[k] for k in Reward.model_fields})


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)

    def who(request: Request) -> str:
        return runtime.auth.actor(request)  # operator:<name>, or the token's fingerprint if unnamed

    @router.get("/rewards", response_model=list[Reward], dependencies=[reader])
    async def list_rewards() -> list[Reward]:
        async with runtime.pool.acquire() as conn:
            return [_out(r) for r in await repo.list_rewards(conn)]

    @router.post("/rewards", response_model=Reward, status_code=201, dependencies=[operator], responses=errors(409))
    async def create_reward(body: RewardIn, request: Request) -> Reward:
        async with runtime.unit_of_work() as uow:
            conn = uow.conn
            row = await repo.insert_reward(conn, body.model_dump(exclude={"initial_stock"}), who(request))
            if row is None:
                raise ApiError(409, "conflict", f"reward {body.reward_id} exists already")
            if body.initial_stock:
                await repo.change_stock(conn, body.reward_id, body.initial_stock, "initial stock", who(request))
            row = await repo.get_reward(conn, body.reward_id)
        assert row is not None
        return _out(row)

    @router.patch("/rewards/{reward_id}", response_model=Reward, dependencies=[operator], responses=errors(404))
    async def patch_reward(body: RewardPatch, request: Request, reward_id: str = Path(pattern=ID_PATTERN)) -> Reward:
        changes = body.model_dump(exclude_unset=True)
        async with runtime.unit_of_work() as uow:
            conn = uow.conn
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
            row = await repo.update_reward(conn, reward_id, changes, who(request))
        assert row is not None
        return _out(row)

    @router.post(
        "/rewards/{reward_id}/stock", response_model=StockOut, dependencies=[operator], responses=errors(404, 409)
    )
    async def change_stock(body: StockIn, request: Request, reward_id: str = Path(pattern=ID_PATTERN)) -> StockOut:
        async with runtime.unit_of_work() as uow:
            conn = uow.conn
            if await repo.get_reward(conn, reward_id) is None:
                raise ApiError(404, "not_found", f"no reward {reward_id}")
            # Free text is masked as inbound events' is before it is stored (and shown in the console).
            after = await repo.change_stock(conn, reward_id, body.delta, redact_text(body.reason), who(request))
        if after is None:
            raise ApiError(409, "insufficient_stock", "cannot remove more stock than is available")
        return StockOut(reward_id=reward_id, stock_available=after)

    @router.get("/rewards/{reward_id}/stock-changes", response_model=list[StockChange], dependencies=[operator])
    async def stock_changes(
        reward_id: str = Path(pattern=ID_PATTERN), limit: int = Query(100, ge=1, le=MAX_LIMIT)
    ) -> list[StockChange]:
        async with runtime.pool.acquire() as conn:
            return [StockChange(**dict(r)) for r in await repo.stock_changes(conn, reward_id, limit)]

    return router
