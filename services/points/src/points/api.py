"""HTTP routes of the points service: balance, ledger, leaderboard, operator adjustments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Path, Query
from incentives_kernel import members, pii
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Row
from incentives_kernel.events import ID_PATTERN
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.logging import redact_text
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, Field, field_validator, model_validator

from . import levels, policy, usecases
from . import repository as repo
from .usecases import Deps


class BalanceOut(BaseModel):
    member_id: str
    available: int
    held: int
    star_level: int
    earned_365d: int


class LedgerLine(BaseModel):
    entry_id: str = Field(description="a transfer id, or for kind `capped` the id of the cap cut")
    kind: str = Field(
        description="report | rating | need_rating | volunteer | reversal | redemption | adjustment | capped"
    )
    amount: int = Field(description="signed: positive credits the member, negative debits; 0 for `capped`")
    reason: str
    rule_version: str
    occurred_at: datetime
    actor: str | None = Field(
        default=None, description="for an adjustment, who made it: operator:<name> or operator:<token fingerprint>"
    )


class LedgerPage(BaseModel):
    items: list[LedgerLine]
    next_cursor: str | None


class LeaderboardEntry(BaseModel):
    rank: int
    member_id: str
    points: int


class Leaderboard(BaseModel):
    district: str | None
    period: str = Field(description="month and year are calendar periods in the business timezone")
    period_start: date
    items: list[LeaderboardEntry]


class AdjustmentIn(BaseModel):
    adjustment_id: str = Field(pattern=ID_PATTERN)
    member_id: str = Field(pattern=ID_PATTERN)
    amount: int = Field(ge=-100_000, le=100_000, description="non-zero; negative removes points")
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("amount")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class AdjustmentOut(BaseModel):
    adjustment_id: str
    transfer_id: str
    member_id: str
    amount: int
    available: int
    actor: str | None = Field(
        description="who made it: operator:<name>, or operator:<token fingerprint> if unnamed (None: made before"
        " actors were recorded)"
    )


class MemberLookupIn(BaseModel):
    """Exactly one number. In a POST body, never a query string: URLs end up in access logs."""

    phone: str | None = Field(default=None, min_length=3, max_length=32, repr=False)
    id_number: str | None = Field(default=None, pattern=r"^(\d{15}|\d{17}[\dXx])$", repr=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberLookupIn:
        if (self.phone is None) == (self.id_number is None):
            raise ValueError("give exactly one of phone and id_number")
        return self


class MemberLookupOut(BaseModel):
    member_ids: list[str] = Field(description="members whose number has the same keyed digest (normally one)")


class MemberLookupRecord(BaseModel):
    lookup_id: int
    looked_up_at: datetime
    actor: str = Field(description="who looked up: <role>:<token fingerprint>")
    kind: Literal["phone", "id_number"] = Field(description="what kind of number was given (never the number)")
    member_ids: list[str] = Field(description="whom it found; empty when nobody")


class MemberLookupPage(BaseModel):
    items: list[MemberLookupRecord]
    next_cursor: str | None


def ranked(rows: list[Row]) -> list[LeaderboardEntry]:
    """Competition ranking of rows ordered by points: ties share a rank, the next rank skips (1, 1, 3)."""
    entries: list[LeaderboardEntry] = []
    for position, row in enumerate(rows, start=1):
        tied = bool(entries) and entries[-1].points == row["earned"]
        rank = entries[-1].rank if tied else position
        entries.append(LeaderboardEntry(rank=rank, member_id=row["member_id"], points=row["earned"]))
    return entries


def build_routers(runtime: ServiceRuntime, deps: Deps) -> list[APIRouter]:
    """The points routes: balance, ledger, leaderboard, member lookup, operators' adjustments."""
    router = APIRouter(prefix="/v1", tags=["points"], responses=errors(400, 401, 403, 413, 422))
    rules = deps.policy
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)

    @router.get("/members/{member_id}/balance", response_model=BalanceOut, dependencies=[reader], responses=errors(404))
    async def get_balance(member_id: str = Path(pattern=ID_PATTERN)) -> BalanceOut:
        async with runtime.pool.acquire() as conn:
            if await members.get(conn, member_id) is None:
                raise ApiError(404, "not_found", f"no member {member_id}")
            bal = await repo.balance(conn, member_id)
            earned = await levels.earned_365d(conn, member_id, runtime.settings.timezone)
        return BalanceOut(
            member_id=member_id,
            available=bal.available,
            held=bal.held,
            star_level=rules.star_level(earned),
            earned_365d=earned,
        )

    @router.get("/members/{member_id}/ledger", response_model=LedgerPage, dependencies=[reader])
    async def get_ledger(
        member_id: str = Path(pattern=ID_PATTERN), limit: int = Query(50, ge=1, le=MAX_LIMIT), cursor: str | None = None
    ) -> LedgerPage:
        after = decode_cursor(cursor, int)
        before_seq = int(after[0]) if after else None
        async with runtime.pool.acquire() as conn:
            rows = await repo.ledger_page(conn, member_id, before_seq, limit + 1)
            actors = await repo.actors_of(conn, [r["entry_id"] for r in rows[:limit] if r["kind"] == "adjustment"])
        items = [
            LedgerLine(
                entry_id=r["entry_id"],
                kind=r["kind"],
                amount=r["amount"],
                reason=r["reason"],
                rule_version=r["rule_version"],
                occurred_at=r["occurred_at"],
                actor=actors.get(r["entry_id"]),
            )
            for r in rows[:limit]
        ]
        nxt = encode_cursor([rows[limit - 1]["seq"]]) if len(rows) > limit else None
        return LedgerPage(items=items, next_cursor=nxt)

    @router.get("/leaderboard", response_model=Leaderboard, dependencies=[reader])
    async def leaderboard(
        district: str | None = Query(None, max_length=64),
        period: Literal["month", "year", "all"] = "month",
        limit: int = Query(100, ge=1, le=MAX_LIMIT),
    ) -> Leaderboard:
        start = policy.period_starts(levels.today(runtime.settings.timezone))[period]
        async with runtime.pool.acquire() as conn:
            rows = await repo.top_of_period(conn, period, start, district, limit)
        return Leaderboard(district=district, period=period, period_start=start, items=ranked(rows))

    @router.post("/members/lookup", response_model=MemberLookupOut, responses=errors(429, 503))
    async def lookup_member(body: MemberLookupIn, caller: Caller = operator) -> MemberLookupOut:
        """Find members by phone or identity number (a hotline's question) through keyed digests only.

        Throttled per caller (INCENTIVES_RATE_LIMIT_LOOKUPS) and audited: who, when, what kind of
        number and whom it found, never the number (`GET /v1/member-lookups`)."""
        runtime.throttle("lookups", caller, "")
        hasher = pii.hasher()
        if hasher is None:
            raise ApiError(503, "unavailable", "member lookup needs INCENTIVES_PII_KEY")
        kind, value = (
            (pii.PiiKind.PHONE, body.phone) if body.phone is not None else (pii.PiiKind.ID_NUMBER, body.id_number)
        )
        assert value is not None
        async with runtime.pool.acquire() as conn, conn.transaction():
            found = await members.find_by(conn, kind, hasher.digest(kind, value))
            await repo.record_lookup(conn, caller.actor, kind.value, found)
        return MemberLookupOut(member_ids=found)

    @router.get("/member-lookups", response_model=MemberLookupPage, dependencies=[operator])
    async def member_lookups(
        actor: str | None = Query(None, max_length=128, description="only this caller's lookups"),
        member_id: str | None = Query(None, pattern=ID_PATTERN, description="only lookups that found this member"),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> MemberLookupPage:
        """The audit of member lookups, newest first: who looked up, when, and whom it found."""
        after = decode_cursor(cursor, int)
        async with runtime.pool.acquire() as conn:
            rows = await repo.lookups_page(
                conn, before_id=after[0] if after else None, actor=actor, member_id=member_id, limit=limit + 1
            )
        items = [
            MemberLookupRecord(
                lookup_id=r["lookup_id"],
                looked_up_at=r["looked_up_at"],
                actor=r["actor"],
                kind=r["kind"],
                member_ids=list(r["member_ids"]),
            )
            for r in rows[:limit]
        ]
        nxt = encode_cursor([rows[limit - 1]["lookup_id"]]) if len(rows) > limit else None
        return MemberLookupPage(items=items, next_cursor=nxt)

    @router.post("/adjustments", response_model=AdjustmentOut, status_code=201, responses=errors(404, 409, 429))
    async def adjust(body: AdjustmentIn, caller: Caller = operator) -> AdjustmentOut:
        runtime.throttle("adjustments", caller, body.member_id)
        async with runtime.unit_of_work() as uow:
            done = await usecases.adjust(
                uow,
                adjustment_id=body.adjustment_id,
                member_id=body.member_id,
                amount=body.amount,
                reason=redact_text(body.reason),  # masked as inbound events' free text: it is stored and published
                actor=caller.actor,
                deps=deps,
            )
        return AdjustmentOut(
            adjustment_id=body.adjustment_id,
            transfer_id=done.transfer_id,
            member_id=body.member_id,
            amount=body.amount,
            available=done.available,
            actor=done.actor,
        )

    return [router]
