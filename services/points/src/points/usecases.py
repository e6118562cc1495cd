"""What the points service does with each event and command: credit, emit, explain."""

from __future__ import annotations

from datetime import datetime

from incentives_kernel import members, outbox, topics
from incentives_kernel.consumer import Outcome, applied, ignored
from incentives_kernel.db import Conn
from incentives_kernel.envelope import ParsedEvent, derived_event_id
from incentives_kernel.errors import PermanentError
from incentives_kernel.events import (
    AttendanceConfirmed,
    PointsCredited,
    ReportRatingRecorded,
    ReportVerified,
    SourceRef,
)

from . import policy
from . import repository as repo
from .ledger import Balance, issuance_account, member_account
from .metrics import PointsMetrics

SOURCE = "/incentives/points"


async def credit(
    conn: Conn,
    *,
    member_id: str,
    amount: int,
    kind: str,
    ref: str,
    reason: str,
    cause: tuple[str, str],
    occurred_at: datetime,
) -> Balance | None:
    """Credit `amount` from the member's district issuance account; emit points.credited.

    The transfer id is derived from what earns (`kind` and `ref`: a report id, an attendance id), so
    one report or attendance earns once even if it is announced by several events. Returns None (and
    does nothing) when it was credited already.
    """
    member = await members.require(conn, member_id)
    transfer = repo.NewTransfer(
        transfer_id=derived_event_id("transfer", kind, ref),
        debit_account=issuance_account(member.district),
        credit_account=member_account(member_id),
        amount=amount,
        kind=kind,
        member_id=member_id,
        rule_version=policy.RULE_VERSION,
        reason=reason,
        source=cause[0],
        source_event_id=cause[1],
        occurred_at=occurred_at,
    )
    if not await repo.insert_transfer(conn, transfer):
        return None
    after = await repo.apply_to_member(conn, member_id, credit=amount)
    event = PointsCredited(
        member_id=member_id,
        transfer_id=transfer.transfer_id,
        amount=amount,
        kind=kind,
        ref=ref,
        reason=reason,
        rule_version=policy.RULE_VERSION,
        balance=after.available,
        source_event=SourceRef(source=cause[0], id=cause[1]),
        occurred_at=occurred_at,
    )
    await outbox.emit(
        conn,
        topic=topics.POINTS,
        key=member_id,
        source=SOURCE,
        type="points.credited",
        subject=member_id,
        data=event,
        event_id=derived_event_id("points.credited", transfer.transfer_id),
    )
    return after


async def _credit_active(
    conn: Conn,
    event: ParsedEvent,
    member_id: str,
    amount: int,
    kind: str,
    ref: str,
    reason: str,
    metrics: PointsMetrics,
) -> Outcome:
    member = await members.require(conn, member_id)
    if not member.active:
        # Never silence (contract): the event is dead-lettered with why it earns nothing.
        raise PermanentError("member_deactivated", f"member {member_id} is deactivated: {kind} earns nothing")
    done = await credit(
        conn,
        member_id=member_id,
        amount=amount,
        kind=kind,
        ref=ref,
        reason=reason,
        cause=(event.envelope.source, event.envelope.id),
        occurred_at=event.envelope.time,
    )
    if done is None:
        return ignored("already credited")
    return applied(on_commit=(lambda: metrics.credit(kind, amount),))


async def credit_report(conn: Conn, event: ParsedEvent, *, metrics: PointsMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, ReportVerified)
    amount = policy.report_points(data.category)
    return await _credit_active(
        conn,
        event,
        data.member_id,
        amount,
        "report",
        data.report_id,
        f"report {data.report_id} ({data.category.value}) verified",
        metrics,
    )


async def credit_rating(conn: Conn, event: ParsedEvent, *, metrics: PointsMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, ReportRatingRecorded)
    return await _credit_active(
        conn,
        event,
        data.member_id,
        policy.RATING_POINTS,
        "rating",
        data.report_id,
        f"rated the handling of report {data.report_id}",
        metrics,
    )


async def credit_volunteering(conn: Conn, event: ParsedEvent, *, metrics: PointsMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, AttendanceConfirmed)
    amount = policy.volunteer_points(data.hours)
    if amount == 0:
        return ignored(f"{data.hours} h is less than half an hour: nothing to credit")
    return await _credit_active(
        conn,
        event,
        data.member_id,
        amount,
        "volunteer",
        data.attendance_id,
        f"volunteered {data.hours:g} h at {data.activity_title}",
        metrics,
    )
