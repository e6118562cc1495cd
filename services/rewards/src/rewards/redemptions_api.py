"""HTTP routes of redemptions: request one (the saga takes it from there), read, cancel, fulfil."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Query
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Row
from incentives_kernel.events import ID_PATTERN, Identifier
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.logging import redact_text
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, Field

from . import repository as repo
from . import saga, usecases
from .saga import Deps


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
    status: str = Field(description="pending | confirmed | rejected | fulfilled | cancelled | expired")
    reason: str | None = Field(description="rejected: the contract's reason")
    detail: str | None = Field(description="rejected: exactly what failed")
    cost_points: int
    voucher_code: str | None
    expires_at: datetime | None = Field(default=None, description="the voucher's last valid moment")
    redeemed_by: str | None = Field(
        default=None,
        description="who handed it over: the provider that redeemed the voucher, or the operator (`operator:<name>`)",
    )
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


def _redemption(row: Row, steps: list[Row] | None = None) -> Redemption:
    fields = {k: row[k] for k in Redemption.model_fields if k != "steps"}
    return Redemption(**fields, steps=[Step(**dict(s)) for s in steps] if steps is not None else None)


def build_router(runtime: ServiceRuntime, deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)

    @router.post("/redemptions", response_model=Redemption, status_code=202, responses=errors(404, 409, 429))
    async def request_redemption(body: RedemptionIn, caller: Caller = reader) -> Redemption:
        caller.act_for(body.member_id)
        runtime.throttle("redemptions", caller, body.member_id)
        async with runtime.unit_of_work() as uow:
            row, created = await saga.request(uow, body, via="http", deps=deps)
        if not created and row["member_id"] != body.member_id:
            # Another member's id: answered as if unknown, so ids cannot be probed for existence.
            raise ApiError(404, "not_found", f"no redemption {body.redemption_id} for this member")
        if not created and row["reward_id"] != body.reward_id:
            raise ApiError(409, "redemption_id_reused", f"redemption {body.redemption_id} is for another reward")
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
        async with runtime.unit_of_work() as uow:
            owner = await repo.get_redemption(uow.conn, redemption_id)
            if owner is None or not caller.sees(owner["member_id"], body.member_id):
                raise ApiError(404, "not_found", f"no redemption {redemption_id}")
            # Free text is masked as inbound events' is before it is stored or published.
            reason = redact_text(body.reason)
            row = await usecases.cancel(uow, redemption_id, by=by, reason=reason, deps=deps)
        return _redemption(row)

    @router.post(
        "/redemptions/{redemption_id}/fulfil",
        response_model=Redemption,
        responses=errors(404, 409),
    )
    async def fulfil_redemption(redemption_id: str = Path(pattern=ID_PATTERN), caller: Caller = operator) -> Redemption:
        async with runtime.unit_of_work() as uow:
            row = await saga.fulfil(uow, redemption_id, deps=deps, by=caller.actor)
        return _redemption(row)

    return router
