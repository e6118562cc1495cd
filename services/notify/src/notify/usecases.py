"""What the notify service does with each event: one text per rider, once, in their language.

For each event that concerns a rider (points, levels, reports and needs, redemptions, allocations)
`ASKS` says whom to tell what (`Ask`: a text kind and its fields), and `notify` stores the
rider's inbox notification, keyed by the cause so that a redelivery or a replay writes nothing, and
in the same transaction fans it out as the rider's preferences allow: the push gateway's
`notification.created` through the outbox (now, after the quiet hours, or muted) and one delivery
row per webhook subscribed to the event's type. `notify_many` does a run of them, any mix of types,
set-based (`_fan_out_many`: one statement per kind of row for the run, metrics counted once per label set);
`notify` stays the per-event reference it is tested against (tests/integration/test_notify_batch.py).
A rider not registered yet parks the event.

Not here: the texts and their languages (texts.py, templates/), preferences and quiet hours
(preferences.py), sending webhooks and releasing deferred pushes (delivery.py, run by jobs.py), SQL
(repository.py), which topics and types arrive (subscribers.py), the HTTP API (api.py, webhooks_api.py).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from incentives_kernel import members
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.events import (
    AllocationDisqualified,
    AllocationLost,
    AllocationWon,
    Locale,
    MemberLevelChanged,
    NeedLifecycleChanged,
    NeedOverdue,
    NotificationCreated,
    PointsCapped,
    PointsCredited,
    PointsDebited,
    PointsReversed,
    RedemptionCancelled,
    RedemptionConfirmed,
    RedemptionFulfilled,
    RedemptionRejected,
    ReportLifecycleChanged,
    ReportOverdue,
)
from incentives_kernel.outcome import APPLIED, Outcome, ParsedEvent, UnitOfWork, ignored, parked

from . import repository as repo
from . import texts, webhooks
from .metrics import NotifyMetrics
from .preferences import Preferences, quiet_until

INBOX, PUSH, WEBHOOK = "inbox", "push", "webhook"


@dataclass(frozen=True, slots=True)
class Context:
    """What every use case of notify needs besides the event: metrics, the default zone, the worker's bell."""

    metrics: NotifyMetrics
    timezone: str = "Asia/Shanghai"
    wake_webhooks: Callable[[], None] = lambda: None


def notification_id(cause: str, member_id: str, channel: str) -> str:
    """One notification per (event, member, channel): the same cause always yields the same id."""
    return derived_event_id("notification", cause, member_id, channel)


async def notify(
    uow: UnitOfWork,
    event: ParsedEvent,
    member_id: str,
    kind: str,
    fields: dict[str, Any],
    ctx: Context,
    template: str | None = None,
) -> Outcome:
    """Store the rider's notification of `kind` (text from `template`, default `kind`) and fan it out.

    The inbox row decides "once": it is keyed by the cause, so a redelivered or replayed event finds it
    and writes nothing on any channel. Push and webhooks are written in the same transaction (outbox
    rows, deferred pushes, webhook deliveries), muted or deferred by the member's preferences.
    """
    # The rider's language comes with the registration, which may still be on its way: wait for it.
    conn = uow.conn
    locale = (await members.require(conn, member_id)).locale
    text = texts.render(template or kind, locale, fields)
    cause = f"{event.envelope.source}#{event.envelope.id}"
    inbox_id = notification_id(cause, member_id, INBOX)
    row = await repo.insert_notification(
        conn,
        notification_id=inbox_id,
        member_id=member_id,
        kind=kind,
        locale=text.locale,
        title=text.title,
        body=text.body,
        source_event=cause,
        cause_type=event.type,
    )
    if row is None:
        return ignored("notified already")
    prefs = await repo.get_preferences(conn, member_id) or Preferences()
    hooks = await repo.webhooks_for(conn, event.type)
    return await _fan_out(uow, event, cause, member_id, kind, text, row["created_at"], prefs, hooks, ctx)


async def _fan_out(
    uow: UnitOfWork,
    event: ParsedEvent,
    cause: str,
    member_id: str,
    kind: str,
    text: texts.Text,
    created_at: datetime,
    prefs: Preferences,
    hooks: list[str],
    ctx: Context,
) -> Outcome:
    """A stored notification to the other channels, as the member's preferences allow (one or many)."""
    inbox_id = notification_id(cause, member_id, INBOX)
    muted = prefs.mutes(kind)
    due = None if muted else quiet_until(created_at, prefs, ctx.timezone)
    m = ctx.metrics
    after: list[Callable[[], None]] = [
        m.created_as(kind, INBOX, text.locale).inc,
        partial(m.delivered, INBOX, None),
    ]
    data = NotificationCreated(
        notification_id=inbox_id,
        member_id=member_id,
        kind=kind,
        locale=Locale(text.locale),
        title=text.title,
        body=text.body,
        created_at=created_at,
    )
    after += await _push(uow, notification_id(cause, member_id, PUSH), data, muted, due, ctx)
    after += await _webhooks(uow, event, cause, data, hooks, muted, due, ctx)
    for callback in after:
        uow.after_commit(callback)
    return APPLIED


async def _push(
    uow: UnitOfWork, push_id: str, data: NotificationCreated, muted: bool, due: datetime | None, ctx: Context
) -> list[Callable[[], None]]:
    """The push gateway's event on incentives.notifications.v1: now, after the quiet hours, or not at all.

    Its CloudEvent id is the push channel's notification id; `data.notification_id` stays the inbox's,
    the id the app marks read.
    """
    m = ctx.metrics
    if muted:
        return [m.deliveries_as(PUSH, "muted").inc]
    created = m.created_as(data.kind, PUSH, data.locale.value).inc
    if due is None:
        uow.emit("notification.created", data.member_id, data.member_id, data, event_id=push_id)
        return [created, partial(m.delivered, PUSH, 0.0)]
    await repo.defer_push(
        uow.conn,
        notification_id=push_id,
        member_id=data.member_id,
        data=data.model_dump(mode="json"),
        created_at=data.created_at,
        due_at=due,
    )
    return [created, m.deliveries_as(PUSH, "deferred").inc]


async def _webhooks(
    uow: UnitOfWork,
    event: ParsedEvent,
    cause: str,
    data: NotificationCreated,
    hooks: list[str],
    muted: bool,
    due: datetime | None,
    ctx: Context,
) -> list[Callable[[], None]]:
    """One delivery row per active endpoint subscribed to the cause's type: an outbox for HTTP."""
    conn = uow.conn
    if not hooks:
        return []
    m = ctx.metrics
    if muted:
        return [m.deliveries_as(WEBHOOK, "muted").inc for _ in hooks]
    hook_id = notification_id(cause, data.member_id, WEBHOOK)
    body = webhooks.payload(
        notification_id=hook_id,
        member_id=data.member_id,
        kind=data.kind,
        event_type=event.type,
        locale=data.locale.value,
        title=data.title,
        body=data.body,
        created_at=data.created_at,
        source_event={"source": event.envelope.source, "id": event.envelope.id},
    )
    for webhook_id in hooks:
        await repo.insert_delivery(
            conn,
            delivery_id=derived_event_id("webhook-delivery", hook_id, webhook_id),
            notification_id=hook_id,
            webhook_id=webhook_id,
            member_id=data.member_id,
            kind=data.kind,
            event_type=event.type,
            body=body,
            created_at=data.created_at,
            due_at=due or data.created_at,
        )
    after: list[Callable[[], None]] = [m.created_as(data.kind, WEBHOOK, data.locale.value).inc]
    if due is not None:
        after += [m.deliveries_as(WEBHOOK, "deferred").inc for _ in hooks]
    return [*after, ctx.wake_webhooks]


class Ask(NamedTuple):
    """What an event asks to tell its member (given their locale): `notify`'s arguments."""

    member_id: str
    kind: str
    fields: dict[str, Any]
    template: str | None = None


def _credited(data: Any, _locale: str) -> Ask:
    assert isinstance(data, PointsCredited)
    fields = {"amount": data.amount, "ref": data.ref, "balance": data.balance}
    return Ask(data.member_id, "points_credited", fields, f"points_credited_{data.kind}")


def _debited(data: Any, _locale: str) -> Ask:
    assert isinstance(data, PointsDebited)
    fields = {"amount": data.amount, "ref": data.ref, "balance": data.balance}
    return Ask(data.member_id, "points_debited", fields, f"points_debited_{data.kind}")


def _reversed(data: Any, locale: str) -> Ask:
    assert isinstance(data, PointsReversed)
    found = "fraudulent" if data.cause == "fraudulent" else "invalid"
    fields = {
        "amount": data.amount,
        "ref": data.ref,
        "balance": data.balance,
        "reason_text": texts.reason_text(f"{found}_found", locale),
    }
    return Ask(data.member_id, "points_reversed", fields, f"points_reversed_{data.kind}")


def _capped(data: Any, _locale: str) -> Ask:
    assert isinstance(data, PointsCapped)
    fields = {"day": data.day, "cap": data.cap, "requested": data.requested, "cut": data.cut}
    return Ask(data.member_id, "points_capped", fields)


def _level(data: Any, _locale: str) -> Ask:
    assert isinstance(data, MemberLevelChanged)
    fields = {"from_level": data.from_level, "to_level": data.to_level, "earned_365d": data.earned_365d}
    return Ask(data.member_id, "level_changed", fields, "level_up" if data.to_level > data.from_level else "level_down")


def _report_overdue(data: Any, locale: str) -> Ask:
    assert isinstance(data, ReportOverdue)
    fields = {"report_id": data.report_id, "department": data.department or texts.reason_text("department", locale)}
    return Ask(data.member_id, "report_overdue", fields)


def _report_changed(data: Any, locale: str) -> Ask:
    assert isinstance(data, ReportLifecycleChanged)
    # A step that handed the report to another department is told as a transfer, whatever its status.
    kind = "report_transferred" if data.transfer else f"report_{data.status.value}"
    fields = {
        "report_id": data.report_id,
        "department": data.department or texts.reason_text("department", locale),
        "previous_department": data.previous_department or texts.reason_text("department", locale),
        "reason_text": texts.reason_text(data.reason.value if data.reason else None, locale),
    }
    return Ask(data.member_id, kind, fields)


def _need_changed(data: Any, locale: str) -> Ask:
    """Every step of a rider's need is told: received, assigned, transferred, taken on, done, refused, reopened."""
    assert isinstance(data, NeedLifecycleChanged)
    kind = "need_transferred" if data.transfer else f"need_{data.status.value}"
    reason = data.reason.value if data.reason else None
    if reason == "duplicate":
        reason = "duplicate_need"  # a need repeats the rider's own request, not a report nearby
    fields = {
        "need_id": data.need_id,
        "department": data.department or texts.reason_text("department", locale),
        "previous_department": data.previous_department or texts.reason_text("department", locale),
        "reason_text": texts.reason_text(reason, locale),
    }
    return Ask(data.member_id, kind, fields)


def _need_overdue(data: Any, locale: str) -> Ask:
    assert isinstance(data, NeedOverdue)
    fields = {"need_id": data.need_id, "department": data.department or texts.reason_text("department", locale)}
    return Ask(data.member_id, "need_overdue", fields)


def _confirmed_untold(data: Any) -> str | None:
    assert isinstance(data, RedemptionConfirmed)
    if data.round_id is not None or data.kind == "allocation":
        # The winner hears it once, from allocation.won (rank and voucher), not a second time from here.
        return "an allocation place is announced by allocation.won"
    return None


def _confirmed(data: Any, _locale: str) -> Ask:
    assert isinstance(data, RedemptionConfirmed)
    fields = {"reward_name": data.reward_name, "cost_points": data.cost_points, "voucher_code": data.voucher_code}
    return Ask(data.member_id, "redemption_confirmed", fields)


def _rejected(data: Any, locale: str) -> Ask:
    assert isinstance(data, RedemptionRejected)
    fields = {
        "reward_name": data.reward_name or texts.reason_text("reward_unknown", locale),
        "reason_text": texts.reason_text(data.reason.value, locale),
    }
    return Ask(data.member_id, "redemption_rejected", fields)


def _fulfilled(data: Any, _locale: str) -> Ask:
    assert isinstance(data, RedemptionFulfilled)
    return Ask(data.member_id, "redemption_fulfilled", {"reward_name": data.reward_name})


def _cancelled(data: Any, locale: str) -> Ask:
    assert isinstance(data, RedemptionCancelled)
    # The free-text `reason` is for operators (any language); the rider is told who cancelled.
    by = data.cancelled_by if data.cancelled_by in ("member", "expiry") else "operator"
    fields = {
        "reward_name": data.reward_name,
        "points_returned": data.points_returned,
        "cancelled_by_text": texts.reason_text(f"cancelled_by_{by}", locale),
    }
    return Ask(data.member_id, "redemption_cancelled", fields)


def _won(data: Any, _locale: str) -> Ask:
    assert isinstance(data, AllocationWon)
    fields = {
        "reward_name": data.reward_name,
        "rank": data.rank,
        "cost_points": data.cost_points,
        "voucher_code": data.voucher_code,
    }
    return Ask(data.member_id, "allocation_won", fields)


def _lost(data: Any, locale: str) -> Ask:
    assert isinstance(data, AllocationLost)
    fields: dict[str, Any] = {
        "reward_name": data.reward_name,
        "quota": data.quota,
        "reason_text": texts.reason_text(data.reason, locale),
    }
    if data.rank is None:
        return Ask(data.member_id, "allocation_lost", fields)
    fields["rank"] = data.rank
    return Ask(data.member_id, "allocation_lost", fields, "allocation_lost_ranked")


def _disqualified(data: Any, _locale: str) -> Ask:
    """Version 2: a provisional winner's place withdrawn during the public notice, with the reason (masked)."""
    assert isinstance(data, AllocationDisqualified)
    fields = {
        "reward_name": data.reward_name,
        "rank": data.rank if data.rank is not None else "-",
        "reason": data.reason,
        "points_returned": data.points_returned,
    }
    return Ask(data.member_id, "allocation_disqualified", fields)


# Every event notify tells a rider of, by type: what to tell (`Ask`) given the member's locale. A run
# of them, of any mix of types, is notified set-based (`notify_many`); `notify_asked` does one.
ASKS: dict[str, Callable[[Any, str], Ask]] = {
    "points.credited": _credited,
    "points.debited": _debited,
    "points.reversed": _reversed,
    "points.capped": _capped,
    "member.level_changed": _level,
    "report.overdue": _report_overdue,
    "report.lifecycle_changed": _report_changed,
    "need.lifecycle_changed": _need_changed,
    "need.overdue": _need_overdue,
    "redemption.confirmed": _confirmed,
    "redemption.rejected": _rejected,
    "redemption.fulfilled": _fulfilled,
    "redemption.cancelled": _cancelled,
    "allocation.won": _won,
    "allocation.lost": _lost,
    "allocation.disqualified": _disqualified,
}
# Events of those types that tell no one, by type: why (an outcome `ignored`), before the member is looked up.
UNTOLD: dict[str, Callable[[Any], str | None]] = {"redemption.confirmed": _confirmed_untold}


async def notify_asked(uow: UnitOfWork, event: ParsedEvent, *, ctx: Context) -> Outcome:
    """One event of ASKS, as `notify` does it (the consumer's per-record path, and tests)."""
    untold = UNTOLD.get(event.type)
    if untold is not None and (why := untold(event.data)) is not None:
        return ignored(why)
    member_id = event.data.member_id  # type: ignore[attr-defined]
    locale = (await members.require(uow.conn, member_id)).locale
    ask = ASKS[event.type](event.data, locale)
    return await notify(uow, event, ask.member_id, ask.kind, ask.fields, ctx, template=ask.template)


async def notify_many(uow: UnitOfWork, events: Sequence[ParsedEvent], *, ctx: Context) -> list[Outcome]:
    """`notify_asked` for a run of events with one statement per kind of read or row, not four per event.

    Members, preferences and webhooks are read once for the run, the notifications inserted in one
    statement (in event order), then fanned out together (`_fan_out_many`). A member not registered
    yet parks that event, as `members.require` would.
    """
    conn = uow.conn
    untold = {i: why for i, e in enumerate(events) if (skip := UNTOLD.get(e.type)) and (why := skip(e.data))}
    told = {e.data.member_id for i, e in enumerate(events) if i not in untold}  # type: ignore[attr-defined]
    known = await members.get_many(conn, told)
    outcomes: list[Outcome | None] = []
    asked: list[tuple[ParsedEvent, str, str, Ask, texts.Text]] = []  # event, type, cause, ask, text
    for i, event in enumerate(events):
        if i in untold:
            outcomes.append(ignored(untold[i]))
            continue
        data: Any = event.data
        member = known.get(data.member_id)
        if member is None:
            outcomes.append(
                parked(members.member_key(data.member_id), f"member {data.member_id} is not registered yet")
            )
            continue
        type_ = event.type
        ask = ASKS[type_](data, member.locale)
        text = texts.render(ask.template or ask.kind, member.locale, ask.fields)
        envelope = event.envelope
        asked.append((event, type_, f"{envelope.source}#{envelope.id}", ask, text))
        outcomes.append(None)
    inbox_ids = [notification_id(cause, ask.member_id, INBOX) for _, _, cause, ask, _ in asked]
    created = await repo.insert_notifications(
        conn,
        [
            repo.NewNotification(inbox_id, ask.member_id, ask.kind, text.locale, text.title, text.body, cause, type_)
            for (_, type_, cause, ask, text), inbox_id in zip(asked, inbox_ids, strict=True)
        ],
    )
    fans = [
        Fan(event, type_, cause, inbox_id, ask.member_id, ask.kind, text, created[inbox_id])
        for (event, type_, cause, ask, text), inbox_id in zip(asked, inbox_ids, strict=True)
        if inbox_id in created
    ]
    prefs = await repo.get_preferences_many(conn, {f.member_id for f in fans})
    hooks = {t: await repo.webhooks_for(conn, t) for t in sorted({f.type for f in fans})}
    await _fan_out_many(uow, fans, prefs, hooks, ctx)
    fresh = iter(zip(asked, inbox_ids, strict=True))
    done: list[Outcome] = []
    for outcome in outcomes:
        if outcome is None:
            _, inbox_id = next(fresh)
            outcome = APPLIED if inbox_id in created else ignored("notified already")
        done.append(outcome)
    return done


@dataclass(slots=True)
class Fan:
    """A notification just stored, to fan out with the others of its run (`_fan_out_many`)."""

    event: ParsedEvent
    type: str
    cause: str
    inbox_id: str
    member_id: str
    kind: str
    text: texts.Text
    created_at: datetime


_NO_PREFERENCES = Preferences()


async def _fan_out_many(
    uow: UnitOfWork, fans: Sequence[Fan], prefs: dict[str, Preferences], hooks: dict[str, list[str]], ctx: Context
) -> None:
    """`_fan_out` for each of a run's stored notifications, in order, with the same rows and counts.

    Pushes sent now are emitted in order (outbox rows, as `_push` emits them); deferred pushes and
    webhook deliveries are inserted in one statement each; the metrics are tallied and counted once
    per label set after the commit, not by four callbacks per notification.
    """
    created: collections.Counter[tuple[str, str, str]] = collections.Counter()  # kind, channel, locale
    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()  # channel, outcome
    pushed_now = 0  # pushes delivered now: each observes a latency of 0
    deferred: list[repo.DeferredPush] = []
    deliveries: list[repo.NewDelivery] = []
    for f in fans:
        text, kind, member_id = f.text, f.kind, f.member_id
        p = prefs.get(member_id, _NO_PREFERENCES)
        muted = p.mutes(kind)
        due = None if muted or p.quiet_start is None else quiet_until(f.created_at, p, ctx.timezone)
        created[(kind, INBOX, text.locale)] += 1
        outcomes[(INBOX, "delivered")] += 1
        if muted:
            outcomes[(PUSH, "muted")] += 1
        else:
            data = NotificationCreated(
                notification_id=f.inbox_id,
                member_id=member_id,
                kind=kind,
                locale=text.locale,  # validated into the enum (without an Enum call here)
                title=text.title,
                body=text.body,
                created_at=f.created_at,
            )
            created[(kind, PUSH, text.locale)] += 1
            push_id = notification_id(f.cause, member_id, PUSH)
            if due is None:
                uow.emit("notification.created", member_id, member_id, data, event_id=push_id)
                outcomes[(PUSH, "delivered")] += 1
                pushed_now += 1
            else:
                deferred.append(repo.DeferredPush(push_id, member_id, data.model_dump(mode="json"), f.created_at, due))
                outcomes[(PUSH, "deferred")] += 1
        subscribed = hooks[f.type]
        if not subscribed:
            continue
        if muted:
            outcomes[(WEBHOOK, "muted")] += len(subscribed)
            continue
        hook_id = notification_id(f.cause, member_id, WEBHOOK)
        envelope = f.event.envelope
        body = webhooks.payload(
            notification_id=hook_id,
            member_id=member_id,
            kind=kind,
            event_type=f.type,
            locale=text.locale,
            title=text.title,
            body=text.body,
            created_at=f.created_at,
            source_event={"source": envelope.source, "id": envelope.id},
        )
        for webhook_id in subscribed:
            deliveries.append(
                repo.NewDelivery(
                    derived_event_id("webhook-delivery", hook_id, webhook_id),
                    hook_id,
                    webhook_id,
                    member_id,
                    kind,
                    f.type,
                    body,
                    f.created_at,
                    due or f.created_at,
                )
            )
        created[(kind, WEBHOOK, text.locale)] += 1
        if due is not None:
            outcomes[(WEBHOOK, "deferred")] += len(subscribed)
    await repo.defer_pushes(uow.conn, deferred)
    await repo.insert_deliveries(uow.conn, deliveries)
    if fans:
        uow.after_commit(partial(ctx.metrics.count, created, outcomes, pushed_now))
    if deliveries:
        uow.after_commit(ctx.wake_webhooks)
