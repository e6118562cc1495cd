"""The notify service's consumer: members (locale), points and report lifecycle events."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import ALL_TYPES, NotificationCreated
from incentives_kernel.runtime import ServiceRuntime

from . import usecases
from .metrics import NotifyMetrics


def register(runtime: ServiceRuntime) -> None:
    metrics = NotifyMetrics(runtime.registry)
    runtime.consume(
        [topics.MEMBERS, topics.POINTS, topics.REPORTS_LIFECYCLE],
        {
            **members.USE_CASES,
            "points.credited": partial(usecases.points_credited, metrics=metrics),
            "points.reversed": partial(usecases.points_reversed, metrics=metrics),
            "points.debited": partial(usecases.points_debited, metrics=metrics),
            "points.capped": partial(usecases.points_capped, metrics=metrics),
            "member.level_changed": partial(usecases.level_changed, metrics=metrics),
            "report.overdue": partial(usecases.report_overdue, metrics=metrics),
            "report.lifecycle_changed": partial(usecases.report_changed, metrics=metrics),
        },
        ALL_TYPES,
        ignore_types=["report.verified", "report.verification_reversed", "report.rating_recorded"],
        description="Members (locale), points events and report status changes, turned into rider notifications",
    )
    runtime.document_publication(
        topics.NOTIFICATIONS, [NotificationCreated], "Rendered notifications for the app's push gateway."
    )
