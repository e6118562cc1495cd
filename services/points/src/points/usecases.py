"""What the points service does with each event and request: credit, reverse, adjust, explain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

from incentives_kernel import members, standing
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.errors import Conflict, NotFound
from incentives_kernel.events import (
    AttendanceConfirmed,
    AttendanceRevoked,
    NeedRatingRecorded,
    PointsCapped,
    ReportRatingRecorded,
    ReportVerificationReversed,
    ReportVerified,
    SourceRef,
)
from incentives_kernel.outcome import Outcome, ParsedEvent, PermanentError, UnitOfWork, applied, ignored

from . import policy
from . import repository as repo
from .ledger import InsufficientPoints, adjustment_account, check_debit, issuance_account, member_account
from .metrics import PointsMetrics
from .transfers import Earned, Posting, Reversal, post


@dataclass(frozen=True, slots=True)
class Deps:
    """What use cases need besides the connection: bound once at registration."""

    metrics: PointsMetrics
    timezone: str
    policy: policy.Policy = policy.DEFAULT


@dataclass(frozen=True, slots=True)
class Earning:
    """What one event earns: `kind` and `ref` (a report id, an attendance id) identify it for good."""

    member_id: str
    kind: str
    ref: str
    amount: int
    reason: str

    @property
    def ids(self) -> tuple[str, str]:
        """The transfer id and the cap-cut id it is recorded under (the same whatever event announces it)."""
        return _entry_ids(self.kind, self.ref)


@lru_cache(maxsize=65_536)
def _entry_ids(kind: str, ref: str) -> tuple[str, str]:
    # A uuid5 costs ~10 us; a credit needs its ids several times over (check, row, announcement).
    return derived_event_id("transfer", kind, ref), derived_event_id("cap", kind, ref)


async def earn(uow: UnitOfWork, event: ParsedEvent, earning: Earning, deps: Deps) -> Outcome:
    """Credit an earning once, within the daily cap; record and announce what the cap cut.

    The transfer id derives from (kind, ref), so one report or attendance earns once however many
    events announce it; the business day is the event's own time in the configured timezone, so a
    replay decides the same. (`credits.earn_many` does the same for a run of events at once; both post
    with `transfers.post`.)
    """
    conn = uow.conn
    member = await members.require(conn, earning.member_id)
    if not member.active:
        # Never silence (contract): the event is dead-lettered with why it earns nothing.
        raise PermanentError(
            "member_deactivated", f"member {earning.member_id} is deactivated: {earning.kind} earns nothing"
        )
    transfer_id, cut_id = earning.ids
    if await repo.earning_recorded(conn, transfer_id, cut_id):
        return ignored("already credited")
    day = standing.business_day(event.envelope.time, deps.timezone)
    capped = earning.kind in deps.policy.rules.capped_kinds
    earned_today = await repo.earned_on(conn, earning.member_id, day) if capped else 0
    decision = deps.policy.apply_daily_cap(earning.kind, earning.amount, earned_today)
    if decision.credited:
        if capped:
            await repo.add_earned(conn, earning.member_id, day, decision.credited)
        earned = Earned(day, member.district) if earning.kind in standing.LEVEL_KINDS else None
        await post(
            uow,
            [Posting(new_transfer(event, earning, member.district, decision.credited, deps), earned=earned)],
            rules=deps.policy,
            timezone=deps.timezone,
        )
    if decision.cut:
        await record_cap_cut(uow, event, earning, decision, day, deps)
    uow.after_commit(count_earning(earning.kind, decision, deps))
    return applied()


def new_transfer(event: ParsedEvent, earning: Earning, district: str, amount: int, deps: Deps) -> repo.NewTransfer:
    return repo.NewTransfer(
        transfer_id=earning.ids[0],
        debit_account=issuance_account(district),
        credit_account=member_account(earning.member_id),
        amount=amount,
        kind=earning.kind,
        member_id=earning.member_id,
        rule_version=deps.policy.version,
        reason=earning.reason,
        source=event.envelope.source,
        source_event_id=event.envelope.id,
        occurred_at=event.envelope.time,
        ref=earning.ref,
    )


async def record_cap_cut(
    uow: UnitOfWork, event: ParsedEvent, earning: Earning, decision: policy.CapDecision, day: date, deps: Deps
) -> None:
    """Record and announce what the daily cap cut from an earning (its id derives from the cut's)."""
    cut_id = earning.ids[1]
    occurred_at, cause = event.envelope.time, (event.envelope.source, event.envelope.id)
    why = (
        f"daily cap of {deps.policy.rules.daily_cap} report points reached on {day.isoformat()}: "
        f"{decision.cut} of {earning.amount} not credited"
    )
    await repo.insert_cap_cut(
        uow.conn,
        cut_id=cut_id,
        member_id=earning.member_id,
        day=day,
        kind=earning.kind,
        ref=earning.ref,
        requested=earning.amount,
        credited=decision.credited,
        cut=decision.cut,
        rule_version=deps.policy.version,
        reason=why,
        source=cause[0],
        source_event_id=cause[1],
        occurred_at=occurred_at,
    )
    uow.emit(
        "points.capped",
        earning.member_id,
        earning.member_id,
        PointsCapped(
            member_id=earning.member_id,
            kind=earning.kind,
            ref=earning.ref,
            requested=earning.amount,
            credited=decision.credited,
            cut=decision.cut,
            day=day.isoformat(),
            cap=deps.policy.rules.daily_cap,
            reason=why,
            rule_version=deps.policy.version,
            source_event=SourceRef(source=cause[0], id=cause[1]),
            occurred_at=occurred_at,
        ),
        id_from=(cut_id,),
        time=occurred_at,
    )


def count_earning(kind: str, decision: policy.CapDecision, deps: Deps) -> Callable[[], None]:
    """The domain metrics of an earning, counted once its transaction commits."""

    def count() -> None:
        if decision.credited:
            deps.metrics.credit(kind, decision.credited)
        if decision.cut:
            deps.metrics.capped.labels(kind).inc(decision.cut)

    return count


async def reverse(
    uow: UnitOfWork, event: ParsedEvent, *, member_id: str, kind: str, ref: str, reason: str, why: str, deps: Deps
) -> Outcome:
    """Take back what (kind, ref) earned with a compensating transfer; the balance may go below zero."""
    member = await members.require(uow.conn, member_id)  # a reversal about an unknown member waits with its credit
    original_id = derived_event_id("transfer", kind, ref)
    original = await repo.find_transfer(uow.conn, original_id)
    if original is None:
        return ignored(f"nothing was credited for {kind} {ref}: nothing to reverse")
    if original["member_id"] != member_id:
        raise PermanentError("reversal_member_mismatch", f"{kind} {ref} was credited to another member")
    reversal = repo.NewTransfer(
        transfer_id=derived_event_id("reversal", original_id),
        debit_account=member_account(member_id),
        credit_account=original["debit_account"],
        amount=original["amount"],
        kind="reversal",
        member_id=member_id,
        rule_version=deps.policy.version,
        reason=reason,
        source=event.envelope.source,
        source_event_id=event.envelope.id,
        occurred_at=event.envelope.time,
        ref=ref,
        reverses=original_id,
    )
    # Taken off the day it was earned, as if never earned.
    day = standing.business_day(original["occurred_at"], deps.timezone)
    earned = Earned(day, member.district) if original["kind"] in standing.LEVEL_KINDS else None
    [posted] = await post(
        uow, [Posting(reversal, earned=earned, reversal=Reversal(kind, why))], rules=deps.policy, timezone=deps.timezone
    )
    if posted is None:
        return ignored("already reversed")
    amount = int(original["amount"])
    uow.after_commit(lambda: deps.metrics.reversed.labels(kind).inc(amount))
    return applied()


def earning_of(event: ParsedEvent, deps: Deps) -> Earning | str:
    """What a verified report, a rating or confirmed volunteering earns; a str: why it earns nothing."""
    data = event.data
    if isinstance(data, ReportVerified):
        return Earning(
            data.member_id,
            "report",
            data.report_id,
            deps.policy.report_points(data.category),
            f"report {data.report_id} ({data.category.value}) verified",
        )
    if isinstance(data, ReportRatingRecorded):
        return Earning(
            data.member_id,
            "rating",
            data.report_id,
            deps.policy.rules.rating_points,
            f"rated the handling of report {data.report_id}",
        )
    if isinstance(data, NeedRatingRecorded):
        # A need earns nothing but this: its own kind, so the ledger says it was a need's rating.
        return Earning(
            data.member_id,
            "need_rating",
            data.need_id,
            deps.policy.rules.rating_points,
            f"rated the help with need {data.need_id}",
        )
    if isinstance(data, AttendanceConfirmed):
        amount = deps.policy.volunteer_points(data.hours)
        if amount == 0:
            return f"{data.hours} h is less than half an hour: nothing to credit"
        return Earning(
            data.member_id,
            "volunteer",
            data.attendance_id,
            amount,
            f"volunteered {data.hours:g} h at {data.activity_title}",
        )
    raise TypeError(f"{event.type} earns nothing")


async def credit(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    """Credit what a verified report, a rating or confirmed volunteering earns."""
    earning = earning_of(event, deps)
    if isinstance(earning, str):
        return ignored(earning)
    return await earn(uow, event, earning, deps)


async def reverse_report(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportVerificationReversed)
    return await reverse(
        uow,
        event,
        member_id=data.member_id,
        kind="report",
        ref=data.report_id,
        reason=f"report {data.report_id} rejected as {data.reason.value}",
        why=data.reason.value,
        deps=deps,
    )


async def reverse_volunteering(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, AttendanceRevoked)
    return await reverse(
        uow,
        event,
        member_id=data.member_id,
        kind="volunteer",
        ref=data.attendance_id,
        reason=f"attendance {data.attendance_id} revoked: {data.reason}",
        why="revoked",
        deps=deps,
    )


# ---------------------------------------------------------------- operators' adjustments (HTTP)


@dataclass(frozen=True, slots=True)
class Adjusted:
    transfer_id: str
    available: int
    actor: str | None  # who made it (for a repeated request, who made it the first time; None before 0006)


async def adjust(
    uow: UnitOfWork, *, adjustment_id: str, member_id: str, amount: int, reason: str, actor: str, deps: Deps
) -> Adjusted:
    """Add (amount > 0) or remove points by an operator's decision, once per `adjustment_id`.

    Raises `NotFound` for an unknown member, `Conflict` when the id was used for another adjustment
    or when removing more than is available (an adjustment never takes a member below zero).
    """
    conn = uow.conn
    transfer_id = f"adjustment:{adjustment_id}"
    member = await members.get(conn, member_id)
    if member is None:
        raise NotFound(f"no member {member_id}")
    existing = await repo.find_transfer(conn, transfer_id)
    if existing is not None:  # the same request again: the same answer
        mine = existing["credit_account"] == member_account(member_id)
        signed = existing["amount"] if mine else -existing["amount"]
        if existing["member_id"] != member_id or signed != amount or existing["kind"] != "adjustment":
            raise Conflict("conflict", "this adjustment_id was used for a different adjustment")
        first = (await repo.actors_of(conn, [transfer_id])).get(transfer_id)
        return Adjusted(transfer_id, (await repo.balance(conn, member_id)).available, first)
    balance = await repo.lock_balance(conn, member_id)
    if amount < 0:
        try:
            check_debit(balance, -amount)
        except InsufficientPoints as exc:
            raise Conflict("insufficient_points", str(exc)) from None
    system, mine = adjustment_account(member.district), member_account(member_id)
    adjustment = repo.NewTransfer(
        transfer_id=transfer_id,
        debit_account=system if amount > 0 else mine,
        credit_account=mine if amount > 0 else system,
        amount=abs(amount),
        kind="adjustment",
        member_id=member_id,
        rule_version=deps.policy.version,
        reason=reason,
        source=f"{uow.source}/adjustments",
        source_event_id=adjustment_id,
        occurred_at=datetime.now(UTC),
        ref=adjustment_id,
    )
    [after] = await post(uow, [Posting(adjustment)], rules=deps.policy, timezone=deps.timezone)
    assert after is not None  # checked above, under the member's balance lock
    await repo.record_actor(conn, transfer_id, actor)
    return Adjusted(transfer_id, after.available, actor)
