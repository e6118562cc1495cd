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
# Every type notify tells a rider of goes through `notify_asked` (one event) or `notify_many` (a run of
# them, any mix of types: the consumer's whole-batch path); usecases.ASKS says what each one tells.
HANDLERS = dict.fromkeys(usecases.ASKS, usecases.notify_asked)


def use_cases(ctx: Context) -> dict[str, UseCase]:
    many = partial(usecases.notify_many, ctx=ctx)
    batched = {t: Batchable(partial(HANDLERS[t], ctx=ctx), many) for t in usecases.ASKS}
    return {**members.USE_CASES, **batched}


def register(runtime: ServiceRuntime, ctx: Context) -> None:
    runtime.consume(TOPICS, use_cases(ctx), ignore_types=IGNORED, description=DESCRIPTION)
    runtime.document_publication(
        topics.NOTIFICATIONS, [NotificationCreated], "Rendered notifications for the app's push gateway."
    )
