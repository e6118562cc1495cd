"""The notify service's consumer: members, points, report lifecycle and rewards events, turned into notifications."""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import NotificationCreated
from incentives_kernel.outcome import Batchable, UseCase
from incentives_kernel.runtime import ServiceRuntime

from . import usecases
from .usecases import Context

TOPICS = (topics.MEMBERS, topics.POINTS, topics.REPORTS_LIFECYCLE, topics.REWARDS)
DESCRIPTION = "Members (locale), points, report and need steps and rewards events, turned into rider notifications"
IGNORED = ("report.verified", "report.verification_reversed", "report.rating_recorded", "need.rating_recorded")
HANDLERS = {
    "points.credited": usecases.points_credited,
    "points.reversed": usecases.points_reversed,
    "points.debited": usecases.points_debited,
    "points.capped": usecases.points_capped,
    "member.level_changed": usecases.level_changed,
    "report.overdue": usecases.report_overdue,
    "report.lifecycle_changed": usecases.report_changed,
    "need.lifecycle_changed": usecases.need_changed,
    "need.overdue": usecases.need_overdue,
    "redemption.confirmed": usecases.redemption_confirmed,
    "redemption.rejected": usecases.redemption_rejected,
    "redemption.fulfilled": usecases.redemption_fulfilled,
    "redemption.cancelled": usecases.redemption_cancelled,
    "allocation.won": usecases.allocation_won,
    "allocation.lost": usecases.allocation_lost,
    "allocation.disqualified": usecases.allocation_disqualified,
}


def use_cases(ctx: Context) -> dict[str, UseCase]:
    # One `many` for every type of usecases.ASKS: a run of points events of mixed types is one call.
    many = partial(usecases.notify_many, ctx=ctx)
    batched = {t: Batchable(partial(HANDLERS[t], ctx=ctx), many) for t in usecases.ASKS}
    return {**members.USE_CASES, **{t: partial(h, ctx=ctx) for t, h in HANDLERS.items()}, **batched}


def register(runtime: ServiceRuntime, ctx: Context) -> None:
    runtime.consume(TOPICS, use_cases(ctx), ignore_types=IGNORED, description=DESCRIPTION)
    runtime.document_publication(
        topics.NOTIFICATIONS, [NotificationCreated], "Rendered notifications for the app's push gateway."
    )
