"""The points service's consumer: members, verified reports, ratings, volunteering."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import ALL_TYPES, PointsCredited
from incentives_kernel.runtime import ServiceRuntime

from . import usecases
from .metrics import PointsMetrics


def register(runtime: ServiceRuntime) -> None:
    metrics = PointsMetrics(runtime.registry)
    runtime.consume(
        [topics.MEMBERS, topics.REPORTS_LIFECYCLE, topics.VOLUNTEER],
        {
            **members.USE_CASES,
            "report.verified": partial(usecases.credit_report, metrics=metrics),
            "report.rating_recorded": partial(usecases.credit_rating, metrics=metrics),
            "volunteer.attendance_confirmed": partial(usecases.credit_volunteering, metrics=metrics),
        },
        ALL_TYPES,
        ignore_types=["report.lifecycle_changed", "report.verification_reversed", "volunteer.attendance_revoked"],
        description="Members (projection), verified reports and ratings from reports, confirmed volunteering",
    )
    runtime.document_publication(
        topics.POINTS, [PointsCredited], "Points events for riders and other systems, keyed by member_id."
    )
