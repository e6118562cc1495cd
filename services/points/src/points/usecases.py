"""What the points service does with each event and command: credit, emit, explain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from incentives_kernel import members, outbox, standing, topics
from incentives_kernel.consumer import Outcome, applied, ignored
from incentives_kernel.db import Conn
from incentives_kernel.envelope import ParsedEvent, derived_event_id
from incentives_kernel.errors import PermanentError
from incentives_kernel.events import (
    AttendanceConfirmed,
    AttendanceRevoked,
    PointsCapped,
    PointsCredited,
    PointsDebited,
    PointsReversed,
    ReportRatingRecorded,
    ReportVerificationReversed,
    ReportVerified,
    SourceRef,
)

from . import levels, policy
from . import repository as repo
from .ledger import issuance_account, member_account
from .metrics import PointsMetrics

SOURCE = "/incentives/points"


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


async def earn(conn: Conn, event: ParsedEvent, earning: Earning, deps: Deps) -> Outcome:
    """Credit an earning once, within the daily cap; record and announce what the cap cut.

    The transfer id derives from (kind, ref), so one report or attendance earns once however many
    events announce it; the business day is the event's own time in the configured timezone, so a
    replay decides the same. (`credits.earn_many` does the same for a run of events at once.)
    """
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
        await repo.insert_transfer(conn, new_transfer(event, earning, member.district, decision.credited, deps))
        after = await repo.apply_to_member(conn, earning.member_id, credit=decision.credited)
        if capped:
            await repo.add_earned(conn, earning.member_id, day, decision.credited)
        if earning.kind in standing.LEVEL_KINDS:
            await levels.record(
                conn,
                member_id=earning.member_id,
                district=member.district,
                day=day,
                delta=decision.credited,
                cause="earned",
                cause_id=transfer_id,
                timezone=deps.timezone,
                rules=deps.policy,
            )
        await announce_credit(conn, event, earning, decision.credited, after.available, day, deps)
    if decision.cut:
        await record_cap_cut(conn, event, earning, decision, day, deps)
    return applied(on_commit=(count_earning(earning.kind, decision, deps),))


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


async def announce_credit(
    conn: Conn, event: ParsedEvent, earning: Earning, amount: int, balance: int, day: date, deps: Deps
) -> None:
    transfer_id = earning.ids[0]
    await announce(
        conn,
        "points.credited",
        earning.member_id,
        transfer_id,
        PointsCredited(
            member_id=earning.member_id,
            transfer_id=transfer_id,
            amount=amount,
            kind=earning.kind,
            ref=earning.ref,
            reason=earning.reason,
            rule_version=deps.policy.version,
            balance=balance,
            source_event=SourceRef(source=event.envelope.source, id=event.envelope.id),
            occurred_at=event.envelope.time,
            earned_day=day if earning.kind in standing.LEVEL_KINDS else None,
        ),
    )


async def record_cap_cut(
    conn: Conn, event: ParsedEvent, earning: Earning, decision: policy.CapDecision, day: date, deps: Deps
) -> None:
    """Record and announce what the daily cap cut from an earning."""
    cut_id = earning.ids[1]
    occurred_at, cause = event.envelope.time, (event.envelope.source, event.envelope.id)
    why = (
        f"daily cap of {deps.policy.rules.daily_cap} report points reached on {day.isoformat()}: "
        f"{decision.cut} of {earning.amount} not credited"
    )
    await repo.insert_cap_cut(
        conn,
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
    await announce(
        conn,
        "points.capped",
        earning.member_id,
        cut_id,
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
    conn: Conn, event: ParsedEvent, *, member_id: str, kind: str, ref: str, reason: str, why: str, deps: Deps
) -> Outcome:
    """Take back what (kind, ref) earned with a compensating transfer; the balance may go below zero."""
    member = await members.require(conn, member_id)  # a reversal about an unknown member waits with its credit
    original_id = derived_event_id("transfer", kind, ref)
    original = await repo.find_transfer(conn, original_id)
    if original is None:
        return ignored(f"nothing was credited for {kind} {ref}: nothing to reverse")
    if original["member_id"] != member_id:
        raise PermanentError("reversal_member_mismatch", f"{kind} {ref} was credited to another member")
    reversal_id = derived_event_id("reversal", original_id)
    occurred_at, cause = event.envelope.time, (event.envelope.source, event.envelope.id)
    inserted = await repo.insert_transfer(
        conn,
        repo.NewTransfer(
            transfer_id=reversal_id,
            debit_account=member_account(member_id),
            credit_account=original["debit_account"],
            amount=original["amount"],
            kind="reversal",
            member_id=member_id,
            rule_version=deps.policy.version,
            reason=reason,
            source=cause[0],
            source_event_id=cause[1],
            occurred_at=occurred_at,
            ref=ref,
            reverses=original_id,
        ),
    )
    if not inserted:
        return ignored("already reversed")
    after = await repo.apply_to_member(conn, member_id, debit=original["amount"])
    earned_day = None
    if original["kind"] in standing.LEVEL_KINDS:  # taken off the day it was earned, as if never earned
        day = earned_day = standing.business_day(original["occurred_at"], deps.timezone)
        await levels.record(
            conn,
            member_id=member_id,
            district=member.district,
            day=day,
            delta=-int(original["amount"]),
            cause="reversed",
            cause_id=reversal_id,
            timezone=deps.timezone,
            rules=deps.policy,
        )
    await announce(
        conn,
        "points.reversed",
        member_id,
        reversal_id,
        PointsReversed(
            member_id=member_id,
            transfer_id=reversal_id,
            reverses=original_id,
            cause=why,
            kind=kind,
            ref=ref,
            amount=original["amount"],
            reason=reason,
            rule_version=deps.policy.version,
            balance=after.available,
            source_event=SourceRef(source=cause[0], id=cause[1]),
            occurred_at=occurred_at,
            earned_day=earned_day,
        ),
    )
    amount = int(original["amount"])
    return applied(on_commit=(lambda: deps.metrics.reversed.labels(kind).inc(amount),))


async def announce(
    conn: Conn,
    type_: str,
    member_id: str,
    entry_id: str,
    data: PointsCredited | PointsReversed | PointsCapped | PointsDebited,
) -> None:
    """Publish a points event through the outbox; its id derives from the ledger entry it reports."""
    await outbox.emit(
        conn,
        topic=topics.POINTS,
        key=member_id,
        source=SOURCE,
        type=type_,
        subject=member_id,
        data=data,
        event_id=derived_event_id(type_, entry_id),
        time=data.occurred_at,
    )


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


async def credit(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    """Credit what a verified report, a rating or confirmed volunteering earns."""
    earning = earning_of(event, deps)
    if isinstance(earning, str):
        return ignored(earning)
    return await earn(conn, event, earning, deps)


async def reverse_report(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportVerificationReversed)
    return await reverse(
        conn,
        event,
        member_id=data.member_id,
        kind="report",
        ref=data.report_id,
        reason=f"report {data.report_id} rejected as {data.reason.value}",
        why=data.reason.value,
        deps=deps,
    )


async def reverse_volunteering(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, AttendanceRevoked)
    return await reverse(
        conn,
        event,
        member_id=data.member_id,
        kind="volunteer",
        ref=data.attendance_id,
        reason=f"attendance {data.attendance_id} revoked: {data.reason}",
        why="revoked",
        deps=deps,
    )
