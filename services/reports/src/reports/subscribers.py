"""The reports service's consumer: which event types it acts on, from which topics."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import (
    NeedLifecycleChanged,
    NeedOverdue,
    NeedRatingRecorded,
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

TOPICS = (topics.MEMBERS, topics.REPORTS, topics.DIRECTORY, topics.POINTS)
DESCRIPTION = (
    "Members (projection), the snap-and-report loop and riders' needs (submitted, status changes, "
    "transfers, reopening, ratings), the department registry, and what points credited for reports"
)
IGNORED = ("points.capped", "points.debited", "member.level_changed")


def use_cases(deps: Deps) -> dict[str, UseCase]:
    """What reports does with each event type."""
    return {
        **members.USE_CASES,
        "member.registered": usecases.register_member,
        "member.updated": usecases.register_member,
        "report.submitted": partial(usecases.submit_report, deps=deps),
        "report.status_changed": partial(usecases.change_status, deps=deps),
        "report.rated": usecases.rate_report,
        "need.submitted": partial(usecases.submit_need, deps=deps),
        "need.status_changed": partial(usecases.change_need_status, deps=deps),
        "need.rated": usecases.rate_need,
        "department.registered": usecases.register_department,
        "department.updated": usecases.register_department,
        "points.credited": usecases.points_changed,
        "points.reversed": usecases.points_changed,
    }


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    runtime.consume(TOPICS, use_cases(deps), ignore_types=IGNORED, description=DESCRIPTION)
    runtime.document_publication(
        topics.REPORTS_LIFECYCLE,
        [
            ReportVerified,
            ReportLifecycleChanged,
            ReportVerificationReversed,
            ReportRatingRecorded,
            ReportOverdue,
            NeedLifecycleChanged,
            NeedRatingRecorded,
            NeedOverdue,
        ],
        "Report and need outcomes for points (verified, reversed, rating points) and every step for riders "
        "(status changes, transfers, reopening, overdue), keyed by member_id.",
    )
