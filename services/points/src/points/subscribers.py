"""The points service's consumer: members, verified reports, ratings, volunteering."""

from __future__ import annotations

from incentives_kernel import members, topics
from incentives_kernel.events import ALL_TYPES, PointsCredited
from incentives_kernel.runtime import ServiceRuntime

from . import usecases


def register(runtime: ServiceRuntime) -> None:
    runtime.consume(
        [topics.MEMBERS, topics.REPORTS_LIFECYCLE, topics.VOLUNTEER],
        {
            **members.USE_CASES,
            "report.verified": usecases.credit_report,
            "report.rating_recorded": usecases.credit_rating,
            "volunteer.attendance_confirmed": usecases.credit_volunteering,
        },
        ALL_TYPES,
        ignore_types=["report.lifecycle_changed", "report.verification_reversed", "volunteer.attendance_revoked"],
        description="Members (projection), verified reports and ratings from reports, confirmed volunteering",
    )
    runtime.document_publication(
        topics.POINTS, [PointsCredited], "Points events for riders and other systems, keyed by member_id."
    )
