"""The notify service's consumer (members, points, report lifecycle and rewards events) and its workers."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import ALL_TYPES, NotificationCreated
from incentives_kernel.runtime import ServiceRuntime

from . import delivery, usecases
from .metrics import NotifyMetrics
from .settings import NotifySettings

HANDLERS = {
    "points.credited": usecases.points_credited,
    "points.reversed": usecases.points_reversed,
    "points.debited": usecases.points_debited,
    "points.capped": usecases.points_capped,
    "member.level_changed": usecases.level_changed,
    "report.overdue": usecases.report_overdue,
    "report.lifecycle_changed": usecases.report_changed,
    "redemption.confirmed": usecases.redemption_confirmed,
    "redemption.rejected": usecases.redemption_rejected,
    "redemption.fulfilled": usecases.redemption_fulfilled,
    "redemption.cancelled": usecases.redemption_cancelled,
    "allocation.won": usecases.allocation_won,
    "allocation.lost": usecases.allocation_lost,
}


def register(runtime: ServiceRuntime) -> delivery.WebhookWorker:
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    metrics = NotifyMetrics(runtime.registry)
    worker = delivery.WebhookWorker(
        lambda: runtime.pool, settings, metrics, after_send=delivery.crash_after_send_hook(settings)
    )
    ctx = usecases.Context(metrics=metrics, timezone=settings.timezone, wake_webhooks=worker.wake)
    runtime.consume(
        [topics.MEMBERS, topics.POINTS, topics.REPORTS_LIFECYCLE, topics.REWARDS],
        {**members.USE_CASES, **{t: partial(h, ctx=ctx) for t, h in HANDLERS.items()}},
        ALL_TYPES,
        ignore_types=["report.verified", "report.verification_reversed", "report.rating_recorded"],
        description="Members (locale), points, report status and rewards events, turned into rider notifications",
    )
    runtime.document_publication(
        topics.NOTIFICATIONS, [NotificationCreated], "Rendered notifications for the app's push gateway."
    )
    runtime.add_background(worker.run)
    runtime.add_background(
        partial(
            delivery.release_pushes_forever,
            lambda: runtime.pool,
            metrics,
            runtime.wake_relay,
            settings.push_release_poll_s,
        )
    )
    return worker
