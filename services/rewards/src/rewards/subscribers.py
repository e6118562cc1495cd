"""The rewards service's consumer.

Consumes members (eligibility needs district and activity), redemption requests, points' events
(the standing that eligibility and allocation rank by) and points' replies to hold commands.
"""

from __future__ import annotations

from functools import partial

from incentives_kernel import members, topics
from incentives_kernel.events import (
    REPLY_TYPES,
    AllocationDisqualified,
    AllocationLost,
    AllocationWon,
    RedemptionCancelled,
    RedemptionConfirmed,
    RedemptionFulfilled,
    RedemptionRejected,
)
from incentives_kernel.outcome import UseCase
from incentives_kernel.runtime import ServiceRuntime

from . import usecases
from .saga import Deps

TOPICS = (topics.MEMBERS, topics.REDEMPTIONS, topics.POINTS, topics.POINTS_REPLIES, topics.DIRECTORY)
DESCRIPTION = (
    "Members (projection), redemption requests, points' events (standing), hold replies and providers (directory)"
)
IGNORED = ("points.debited", "points.capped", "department.registered", "department.updated")


def use_cases(deps: Deps) -> dict[str, UseCase]:
    """What rewards does with each event type (the tests drive the same table)."""
    return {
        **members.USE_CASES,
        "redemption.requested": partial(usecases.redemption_requested, deps=deps),
        "points.credited": usecases.points_earned,
        "points.reversed": usecases.points_earned,
        "member.level_changed": usecases.level_changed,
        "provider.registered": usecases.provider_changed,
        "provider.updated": usecases.provider_changed,
        **{t: partial(usecases.hold_answered, deps=deps) for t in REPLY_TYPES},
    }


def register(runtime: ServiceRuntime, deps: Deps) -> None:
    runtime.consume(TOPICS, use_cases(deps), ignore_types=IGNORED, description=DESCRIPTION)
    runtime.document_publication(
        topics.REWARDS,
        [
            RedemptionConfirmed,
            RedemptionRejected,
            RedemptionFulfilled,
            RedemptionCancelled,
            AllocationWon,
            AllocationLost,
            AllocationDisqualified,
        ],
        "Redemption and allocation outcomes for riders and other systems, keyed by member_id.",
    )
