"""The points service's consumer: members, verified reports, ratings, volunteering, hold commands."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import (
    HoldReply,
    MemberLevelChanged,
    PointsCapped,
    PointsCredited,
    PointsDebited,
    PointsReversed,
)
from incentives_kernel.outcome import Batchable, UseCase
from incentives_kernel.runtime import ServiceRuntime

from . import credits, holds, usecases
from .usecases import Deps

TOPICS = (topics.MEMBERS, topics.REPORTS_LIFECYCLE, topics.VOLUNTEER, topics.POINTS_COMMANDS)
DESCRIPTION = "Members (projection), verified reports and ratings from reports, volunteering, hold commands"
IGNORED = ("report.lifecycle_changed", "report.overdue", "need.lifecycle_changed", "need.overdue")


def use_cases(deps: Deps) -> dict[str, UseCase]:
    """What points does with each event and command type (the tests drive the same table)."""
    # One `many` for credits and reversals: a run of them in a batch, in any mix, is posted at once
    # (the consumer extends a run while the next event's `many` is the same object).
    run = partial(credits.apply_run, deps=deps)
    credit = Batchable(partial(usecases.credit, deps=deps), run)
    return {
        **members.USE_CASES,
        "report.verified": credit,
        "report.rating_recorded": credit,
        "need.rating_recorded": credit,
        "volunteer.attendance_confirmed": credit,
        "report.verification_reversed": Batchable(partial(usecases.reverse_report, deps=deps), run),
        "volunteer.attendance_revoked": Batchable(partial(usecases.reverse_volunteering, deps=deps), run),
        "points.place_hold": partial(holds.place_hold, deps=deps),
        "points.capture_hold": partial(holds.capture_hold, deps=deps),
        "points.release_hold": partial(holds.release_hold, deps=deps),
        "points.refund_hold": partial(holds.refund_hold, deps=deps),
    }


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    runtime.consume(TOPICS, use_cases(deps), ignore_types=IGNORED, description=DESCRIPTION)
    runtime.document_publication(
        topics.POINTS,
        [PointsCredited, PointsDebited, PointsReversed, PointsCapped, MemberLevelChanged],
        "Points events for riders and other systems, keyed by member_id.",
    )
    runtime.document_publication(
        topics.POINTS_REPLIES,
        [HoldReply],
        "Replies to hold commands and hold expiries (points.hold_placed, _rejected, _captured, _released, _expired, "
        "_refunded, _command_refused), keyed by member_id.",
    )
