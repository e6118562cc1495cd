"""What the points service does with each event and request: credit, reverse, adjust, explain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

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
    # The transfer id and the cap-cut id it is recorded under (the same whatever event announces it):
    # worked out once, as a run needs them four or five times per earning.
    ids: tuple[str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", _entry_ids(self.kind, self.ref))


@lru_cache(maxsize=65_536)
def _entry_ids(kind: str, ref: str) -> tuple[str, str]:
    # A uuid5 costs ~10 us; a credit needs its ids several times over (check, row, announcement).
    return derived_event_id("transfer", kind, ref), derived_event_id("cap", kind, ref)


async def earn(uow: UnitOfWork, event: ParsedEvent, earning: Earning, deps: Deps) -> Outcome:
    """Credit an earning once, within the daily cap; record and announce what the cap cut.

    The transfer id derives from (kind, ref), so one report or attendance earns once however many
    events announce it; the business day is the event's own time in the configured timezone, so a
    replay decides the same. (`credits.apply_run` does the same for a run of events at once; both post
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


def cap_cut(event: ParsedEvent, earning: Earning, decision: policy.CapDecision, day: date, deps: Deps) -> repo.CapCut:
    """What the daily cap cut from an earning, as recorded (its id derives from the earning's)."""
    why = (
        f"daily cap of {deps.policy.rules.daily_cap} report points reached on {day.isoformat()}: "
        f"{decision.cut} of {earning.amount} not credited"
    )
    return repo.CapCut(
        cut_id=earning.ids[1],
        member_id=earning.member_id,
        day=day,
        kind=earning.kind,
        ref=earning.ref,
        requested=earning.amount,
        credited=decision.credited,
        cut=decision.cut,
        rule_version=deps.policy.version,
        reason=why,
        source=event.envelope.source,
        source_event_id=event.envelope.id,
        occurred_at=event.envelope.time,
    )


async def record_cap_cut(
    uow: UnitOfWork, event: ParsedEvent, earning: Earning, decision: policy.CapDecision, day: date, deps: Deps
) -> None:
    """Record and announce what the daily cap cut from an earning."""
    cut = cap_cut(event, earning, decision, day, deps)
    await repo.insert_cap_cuts(uow.conn, [cut])
    announce_cap_cut(uow, cut, deps)


def announce_cap_cut(uow: UnitOfWork, cut: repo.CapCut, deps: Deps) -> None:
    """Say what the cap cut (points.capped, its id derived from the cut's)."""
    uow.emit(
        "points.capped",
        cut.member_id,
        cut.member_id,
        PointsCapped(
            member_id=cut.member_id,
            kind=cut.kind,
            ref=cut.ref,
            requested=cut.requested,
            credited=cut.credited,
            cut=cut.cut,
            day=cut.day.isoformat(),
            cap=deps.policy.rules.daily_cap,
            reason=cut.reason,
            rule_version=cut.rule_version,
            source_event=SourceRef(source=cut.source, id=cut.source_event_id),
            occurred_at=cut.occurred_at,
        ),
        id_from=(cut.cut_id,),
        time=cut.occurred_at,
    )


def count_earning(kind: str, decision: policy.CapDecision, deps: Deps) -> Callable[[], None]:
    """The domain metrics of an earning, counted once its transaction commits."""

    def count() -> None:
        if decision.credited:
            deps.metrics.credit(kind, decision.credited)
        if decision.cut:
            deps.metrics.capped.labels(kind).inc(decision.cut)

    return count


@dataclass(frozen=True, slots=True)
class ReversalAsked:
    """What a reversal event takes back: what (kind, ref) earned for `member_id`, and why."""

    member_id: str
    kind: str  # report | volunteer
    ref: str
    reason: str
    why: str  # the points.reversed cause: invalid | fraudulent | revoked

    @property
    def original_id(self) -> str:
        """The id of the transfer it takes back (whatever event credited it)."""
        return _entry_ids(self.kind, self.ref)[0]


@lru_cache(maxsize=65_536)
def reversal_id(original_id: str) -> str:
    return derived_event_id("reversal", original_id)


@dataclass(frozen=True, slots=True)
class Original:
    """What a reversal needs of the credit it takes back (a ledger row, or a credit earlier in a run)."""

    member_id: str
    debit_account: str
    amount: int
    kind: str
    occurred_at: datetime

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Original:
        return cls(row["member_id"], row["debit_account"], int(row["amount"]), row["kind"], row["occurred_at"])


def reversal_of(event: ParsedEvent) -> ReversalAsked:
    """What a report's reversed verification or a revoked attendance takes back."""
    data = event.data
    if isinstance(data, ReportVerificationReversed):
        return ReversalAsked(
            data.member_id,
            "report",
            data.report_id,
            f"report {data.report_id} rejected as {data.reason.value}",
            data.reason.value,
        )
    if isinstance(data, AttendanceRevoked):
        return ReversalAsked(
            data.member_id,
            "volunteer",
            data.attendance_id,
            f"attendance {data.attendance_id} revoked: {data.reason}",
            "revoked",
        )
    raise TypeError(f"{event.type} reverses nothing")


def reversal_posting(
    event: ParsedEvent, asked: ReversalAsked, original: Original, district: str, deps: Deps
) -> Posting:
    """The compensating transfer for `original`, taken off the day it was earned, as if never earned."""
    original_id = asked.original_id
    reversal = repo.NewTransfer(
        transfer_id=reversal_id(original_id),
        debit_account=member_account(asked.member_id),
        credit_account=original.debit_account,
        amount=original.amount,
        kind="reversal",
        member_id=asked.member_id,
        rule_version=deps.policy.version,
        reason=asked.reason,
        source=event.envelope.source,
        source_event_id=event.envelope.id,
        occurred_at=event.envelope.time,
        ref=asked.ref,
        reverses=original_id,
    )
    day = standing.business_day(original.occurred_at, deps.timezone)
    earned = Earned(day, district) if original.kind in standing.LEVEL_KINDS else None
    return Posting(reversal, earned=earned, reversal=Reversal(asked.kind, asked.why))


ALREADY_REVERSED = "already reversed"


def nothing_to_reverse(asked: ReversalAsked) -> str:
    return f"nothing was credited for {asked.kind} {asked.ref}: nothing to reverse"


def count_reversal(asked: ReversalAsked, amount: int, deps: Deps) -> Callable[[], None]:
    return lambda: deps.metrics.reversed.labels(asked.kind).inc(amount)


async def reverse(uow: UnitOfWork, event: ParsedEvent, asked: ReversalAsked, deps: Deps) -> Outcome:
    """Take back what (kind, ref) earned with a compensating transfer; the balance may go below zero.

    Nothing credited (never earned, cut to nothing by the cap, or not yet: a reversal before its
    credit) is nothing to reverse; a second reversal of the same credit is the first one.
    (`credits.apply_run` does the same for a run of events at once.)
    """
    # A reversal about an unknown member waits with its credit (the member's registration releases both).
    member = await members.require(uow.conn, asked.member_id)
    row = await repo.find_transfer(uow.conn, asked.original_id)
    if row is None:
        return ignored(nothing_to_reverse(asked))
    original = Original.of(row)
    if original.member_id != asked.member_id:
        raise PermanentError("reversal_member_mismatch", f"{asked.kind} {asked.ref} was credited to another member")
    posting = reversal_posting(event, asked, original, member.district, deps)
    [posted] = await post(uow, [posting], rules=deps.policy, timezone=deps.timezone)
    if posted is None:
        return ignored(ALREADY_REVERSED)
    uow.after_commit(count_reversal(asked, original.amount, deps))
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
    return await reverse(uow, event, reversal_of(event), deps)


async def reverse_volunteering(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    return await reverse(uow, event, reversal_of(event), deps)


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
