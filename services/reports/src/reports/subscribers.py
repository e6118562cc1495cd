"""The reports service's consumer: which event types it acts on, from which topics."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import (
    INBOUND_TYPES,
    ReportLifecycleChanged,
    ReportRatingRecorded,
    ReportVerificationReversed,
    ReportVerified,
)
from incentives_kernel.runtime import ServiceRuntime

from . import usecases
from .metrics import ReportsMetrics


def register(runtime: ServiceRuntime) -> None:
    metrics = ReportsMetrics(runtime.registry)
    runtime.consume(
        [topics.MEMBERS, topics.REPORTS],
        {
            **members.USE_CASES,
            "report.submitted": partial(usecases.submit_report, metrics=metrics),
            "report.status_changed": partial(usecases.change_status, metrics=metrics),
            "report.rated": usecases.rate_report,
        },
        INBOUND_TYPES,
        description="Members (projection) and the snap-and-report loop: submitted, status changes, ratings",
    )
    runtime.document_publication(
        topics.REPORTS_LIFECYCLE,
        [ReportVerified, ReportLifecycleChanged, ReportVerificationReversed, ReportRatingRecorded],
        "Report outcomes for points (verified, reversed, rating) and status changes for riders, keyed by member_id.",
    )
