"""The reports service's consumer: which event types it acts on, from which topics."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import (
    ALL_TYPES,
    ReportLifecycleChanged,
    ReportOverdue,
    ReportRatingRecorded,
    ReportVerificationReversed,
    ReportVerified,
)
from incentives_kernel.runtime import ServiceRuntime

from . import overdue, usecases
from .metrics import ReportsMetrics
from .settings import ReportsSettings


def register(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, ReportsSettings)
    deps = usecases.Deps(ReportsMetrics(runtime.registry), settings.sla)
    runtime.consume(
        [topics.MEMBERS, topics.REPORTS, topics.POINTS],
        {
            **members.USE_CASES,
            "report.submitted": partial(usecases.submit_report, deps=deps),
            "report.status_changed": partial(usecases.change_status, deps=deps),
            "report.rated": usecases.rate_report,
            "points.credited": usecases.points_changed,
            "points.reversed": usecases.points_changed,
        },
        ALL_TYPES,
        ignore_types=["points.capped", "points.debited", "member.level_changed"],
        description="Members (projection), the snap-and-report loop (submitted, status changes, ratings), and what "
        "points credited for reports",
    )
    runtime.add_background(
        lambda: overdue.sweep(lambda: runtime.pool, deps.metrics, settings.overdue_sweep_interval_s, runtime.wake_relay)
    )
    runtime.document_publication(
        topics.REPORTS_LIFECYCLE,
        [ReportVerified, ReportLifecycleChanged, ReportVerificationReversed, ReportRatingRecorded, ReportOverdue],
        "Report outcomes for points (verified, reversed, rating) and status changes for riders, keyed by member_id.",
    )
