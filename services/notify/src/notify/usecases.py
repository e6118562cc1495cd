"""What the notify service does with each event: one text per rider, once, in their language."""

from __future__ import annotations

from typing import Any

from incentives_kernel import members, outbox, topics
from incentives_kernel.consumer import Outcome, applied, ignored
from incentives_kernel.db import Conn
from incentives_kernel.envelope import ParsedEvent, derived_event_id
from incentives_kernel.events import (
    Locale,
    MemberLevelChanged,
    NotificationCreated,
    PointsCapped,
    PointsCredited,
    PointsDebited,
    PointsReversed,
    ReportLifecycleChanged,
    ReportOverdue,
)

from . import repository as repo
from . import texts
from .metrics import NotifyMetrics

SOURCE = "/incentives/notify"
CHANNEL = "inbox"


async def notify(
    conn: Conn,
    event: ParsedEvent,
    member_id: str,
    kind: str,
    fields: dict[str, Any],
    metrics: NotifyMetrics,
    template: str | None = None,
) -> Outcome:
    """Store the rider's notification of `kind` (text from `template`, default `kind`) and publish it."""
    # The rider's language comes with the registration, which may still be on its way: wait for it.
    locale = (await members.require(conn, member_id)).locale
    text = texts.render(template or kind, locale, fields)
    cause = f"{event.envelope.source}#{event.envelope.id}"
    notification_id = derived_event_id("notification", cause, member_id, CHANNEL)
    row = await repo.insert_notification(
        conn,
        notification_id=notification_id,
        member_id=member_id,
        kind=kind,
        locale=text.locale,
        title=text.title,
        body=text.body,
        source_event=cause,
    )
    if row is None:
        return ignored("notified already")
    await outbox.emit(
        conn,
        topic=topics.NOTIFICATIONS,
        key=member_id,
        source=SOURCE,
        type="notification.created",
        subject=member_id,
        event_id=notification_id,
        data=NotificationCreated(
            notification_id=notification_id,
            member_id=member_id,
            kind=kind,
            locale=Locale(text.locale),
            title=text.title,
            body=text.body,
            created_at=row["created_at"],
        ),
    )
    return applied(on_commit=(lambda: metrics.created.labels(kind, CHANNEL, text.locale).inc(),))


async def points_credited(conn: Conn, event: ParsedEvent, *, metrics: NotifyMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, PointsCredited)
    fields = {"amount": data.amount, "ref": data.ref, "balance": data.balance}
    return await notify(
        conn, event, data.member_id, "points_credited", fields, metrics, template=f"points_credited_{data.kind}"
    )


async def points_debited(conn: Conn, event: ParsedEvent, *, metrics: NotifyMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, PointsDebited)
    fields = {"amount": data.amount, "ref": data.ref, "balance": data.balance}
    return await notify(
        conn, event, data.member_id, "points_debited", fields, metrics, template=f"points_debited_{data.kind}"
    )


async def points_reversed(conn: Conn, event: ParsedEvent, *, metrics: NotifyMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, PointsReversed)
    locale = (await members.require(conn, data.member_id)).locale
    found = "fraudulent" if data.cause == "fraudulent" else "invalid"
    fields = {
        "amount": data.amount,
        "ref": data.ref,
        "balance": data.balance,
        "reason_text": texts.reason_text(f"{found}_found", locale),
    }
    return await notify(
        conn, event, data.member_id, "points_reversed", fields, metrics, template=f"points_reversed_{data.kind}"
    )


async def points_capped(conn: Conn, event: ParsedEvent, *, metrics: NotifyMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, PointsCapped)
    fields = {"day": data.day, "cap": data.cap, "requested": data.requested, "cut": data.cut}
    return await notify(conn, event, data.member_id, "points_capped", fields, metrics)


async def level_changed(conn: Conn, event: ParsedEvent, *, metrics: NotifyMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, MemberLevelChanged)
    fields = {"from_level": data.from_level, "to_level": data.to_level, "earned_365d": data.earned_365d}
    template = "level_up" if data.to_level > data.from_level else "level_down"
    return await notify(conn, event, data.member_id, "level_changed", fields, metrics, template=template)


async def report_overdue(conn: Conn, event: ParsedEvent, *, metrics: NotifyMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, ReportOverdue)
    locale = (await members.require(conn, data.member_id)).locale
    fields = {"report_id": data.report_id, "department": data.department or texts.reason_text("department", locale)}
    return await notify(conn, event, data.member_id, "report_overdue", fields, metrics)


async def report_changed(conn: Conn, event: ParsedEvent, *, metrics: NotifyMetrics) -> Outcome:
    data = event.data
    assert isinstance(data, ReportLifecycleChanged)
    locale = (await members.require(conn, data.member_id)).locale
    return await notify(
        conn,
        event,
        data.member_id,
        f"report_{data.status.value}",
        {
            "report_id": data.report_id,
            "department": data.department or texts.reason_text("department", locale),
            "reason_text": texts.reason_text(data.reason.value if data.reason else None, locale),
        },
        metrics,
    )
