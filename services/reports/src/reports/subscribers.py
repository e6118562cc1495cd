"""The reports service's consumer: which event types it acts on, from which topics."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import (
    ReportLifecycleChanged,
    ReportOverdue,
    ReportRatingRecorded,
    ReportVerificationReversed,
    ReportVerified,
)
from incentives_kernel.outcome import UseCase
from incentives_kernel.runtime import ServiceRuntime

from . import usecases
from .usecases import Deps

TOPICS = (topics.MEMBERS, topics.REPORTS, topics.POINTS)
DESCRIPTION = (
    "Members (projection), the snap-and-report loop (submitted, status changes, ratings), and what "
    "points credited for reports"
)
IGNORED = ("points.capped", "points.debited", "member.level_changed")


def use_cases(deps: Deps) -> dict[str, UseCase]:
    """What reports does with each event type."""
    return {
        **members.USE_CASES,
        "report.submitted": partial(usecases.submit_report, deps=deps),
        "report.status_changed": partial(usecases.change_status, deps=deps),
        "report.rated": usecases.rate_report,
        "points.credited": usecases.points_changed,
        "points.reversed": usecases.points_changed,
    }


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    runtime.consume(TOPICS, use_cases(deps), ignore_types=IGNORED, description=DESCRIPTION)
    runtime.document_publication(
        topics.REPORTS_LIFECYCLE,
        [ReportVerified, ReportLifecycleChanged, ReportVerificationReversed, ReportRatingRecorded, ReportOverdue],
        "Report outcomes for points (verified, reversed, rating) and status changes for riders, keyed by member_id.",
    )
