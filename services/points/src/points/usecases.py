"""What the points service does with each event and command: credit, emit, explain."""

from __future__ import annotations

from dataclasses import dataclass

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


async def earn(conn: Conn, event: ParsedEvent, earning: Earning, deps: Deps) -> Outcome:
    """Credit an earning once, within the daily cap; record and announce what the cap cut.

    The transfer id derives from (kind, ref), so one report or attendance earns once however many
    events announce it; the business day is the event's own time in the configured timezone, so a
    replay decides the same.
    """
    member = await members.require(conn, earning.member_id)
    if not member.active:
        # Never silence (contract): the event is dead-lettered with why it earns nothing.
        raise PermanentError(
            "member_deactivated", f"member {earning.member_id} is deactivated: {earning.kind} earns nothing"
        )
    transfer_id = derived_event_id("transfer", earning.kind, earning.ref)
    cut_id = derived_event_id("cap", earning.kind, earning.ref)
    if await repo.earning_recorded(conn, transfer_id, cut_id):
        return ignored("already credited")
    occurred_at, cause = event.envelope.time, (event.envelope.source, event.envelope.id)
    day = standing.business_day(occurred_at, deps.timezone)
    capped = earning.kind in deps.policy.rules.capped_kinds
    earned_today = await repo.earned_on(conn, earning.member_id, day) if capped else 0
    decision = deps.policy.apply_daily_cap(earning.kind, earning.amount, earned_today)
    if decision.credited:
        await repo.insert_transfer(
            conn,
            repo.NewTransfer(
                transfer_id=transfer_id,
                debit_account=issuance_account(member.district),
                credit_account=member_account(earning.member_id),
                amount=decision.credited,
                kind=earning.kind,
                member_id=earning.member_id,
                rule_version=deps.policy.version,
                reason=earning.reason,
                source=cause[0],
                source_event_id=cause[1],
                occurred_at=occurred_at,
                ref=earning.ref,
            ),
        )
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
        await announce(
            conn,
            "points.credited",
            earning.member_id,
            transfer_id,
            PointsCredited(
                member_id=earning.member_id,
                transfer_id=transfer_id,
                amount=decision.credited,
                kind=earning.kind,
                ref=earning.ref,
                reason=earning.reason,
                rule_version=deps.policy.version,
                balance=after.available,
                source_event=SourceRef(source=cause[0], id=cause[1]),
                occurred_at=occurred_at,
                earned_day=day if earning.kind in standing.LEVEL_KINDS else None,
            ),
        )
    if decision.cut:
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

    def count() -> None:
        if decision.credited:
            deps.metrics.credit(earning.kind, decision.credited)
        if decision.cut:
            deps.metrics.capped.labels(earning.kind).inc(decision.cut)

    return applied(on_commit=(count,))


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


async def credit_report(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportVerified)
    return await earn(
        conn,
        event,
        Earning(
            data.member_id,
            "report",
            data.report_id,
            deps.policy.report_points(data.category),
            f"report {data.report_id} ({data.category.value}) verified",
        ),
        deps,
    )


async def credit_rating(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, ReportRatingRecorded)
    return await earn(
        conn,
        event,
        Earning(
            data.member_id,
            "rating",
            data.report_id,
            deps.policy.rules.rating_points,
            f"rated the handling of report {data.report_id}",
        ),
        deps,
    )


async def credit_volunteering(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, AttendanceConfirmed)
    amount = deps.policy.volunteer_points(data.hours)
    if amount == 0:
        return ignored(f"{data.hours} h is less than half an hour: nothing to credit")
    return await earn(
        conn,
        event,
        Earning(
            data.member_id,
            "volunteer",
            data.attendance_id,
            amount,
            f"volunteered {data.hours:g} h at {data.activity_title}",
        ),
        deps,
    )


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
