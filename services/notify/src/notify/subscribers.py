"""The notify service's consumer: members (locale), points and report lifecycle events."""

from __future__ import annotations

from incentives_kernel import members, topics
from incentives_kernel.events import ALL_TYPES, NotificationCreated
from incentives_kernel.runtime import ServiceRuntime

from . import usecases


def register(runtime: ServiceRuntime) -> None:
    runtime.consume(
        [topics.MEMBERS, topics.POINTS, topics.REPORTS_LIFECYCLE],
        {
            **members.USE_CASES,
            "points.credited": usecases.points_credited,
            "report.lifecycle_changed": usecases.report_changed,
        },
        ALL_TYPES,
        ignore_types=["report.verified", "report.verification_reversed", "report.rating_recorded"],
        description="Members (locale), points events and report status changes, turned into rider notifications",
    )
    runtime.document_publication(
        topics.NOTIFICATIONS, [NotificationCreated], "Rendered notifications for the app's push gateway."
    )
