"""The rewards service's consumer and background work.

Consumes members (eligibility needs district and activity), redemption requests, points' events
(the standing that eligibility and allocation rank by) and points' replies to hold commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

import asyncpg
import structlog
from incentives_kernel import members, topics
from incentives_kernel.consumer import UseCase
from incentives_kernel.events import (
    ALL_TYPES,
    REPLY_TYPES,
    AllocationLost,
    AllocationWon,
    RedemptionCancelled,
    RedemptionConfirmed,
    RedemptionFulfilled,
    RedemptionRejected,
)
from incentives_kernel.runtime import ServiceRuntime

from . import rounds, saga, usecases
from .metrics import RewardsMetrics
from .saga import Deps
from .settings import RewardsSettings

log = structlog.get_logger(__name__)

IGNORED = ["points.debited", "points.capped"]


def use_cases(deps: Deps) -> dict[str, UseCase]:
    """What rewards does with each event type (the tests drive the same table)."""
    return {
        **members.USE_CASES,
        "redemption.requested": partial(usecases.redemption_requested, deps=deps),
        "points.credited": usecases.points_earned,
        "points.reversed": usecases.points_earned,
        "member.level_changed": usecases.level_changed,
        **{t: partial(usecases.hold_answered, deps=deps) for t in REPLY_TYPES},
    }


async def sweep(pool: Callable[[], asyncpg.Pool], deps: Deps, on_commit: Callable[[], None]) -> None:
    """Forever: give up redemptions points never answered, and close rounds whose window has ended."""
    while True:
        try:
            async with pool().acquire() as conn:
                gave_up = await saga.give_up_overdue(conn, deps)
                closed = await rounds.close_due(conn, deps)
            if gave_up or closed:
                on_commit()
                log.info("rewards sweep", timed_out=gave_up, rounds_closed=closed)
        except Exception as exc:  # the next round retries
            log.warning("rewards sweep failed", error=type(exc).__name__)
        await asyncio.sleep(deps.settings.saga_sweep_interval_s)


def register(runtime: ServiceRuntime) -> Deps:
    """Subscribe and start the background work; returns the dependencies the HTTP routes share."""
    settings = runtime.settings
    assert isinstance(settings, RewardsSettings)
    deps = Deps(RewardsMetrics(runtime.registry), settings)
    runtime.consume(
        [topics.MEMBERS, topics.REDEMPTIONS, topics.POINTS, topics.POINTS_REPLIES],
        use_cases(deps),
        ALL_TYPES,
        ignore_types=IGNORED,
        description="Members (projection), redemption requests, points' events (standing) and hold replies",
    )
    runtime.add_background(lambda: deps.metrics.refresh(lambda: runtime.pool))
    runtime.add_background(lambda: sweep(lambda: runtime.pool, deps, runtime.wake_relay))
    runtime.document_publication(
        topics.REWARDS,
        [
            RedemptionConfirmed,
            RedemptionRejected,
            RedemptionFulfilled,
            RedemptionCancelled,
            AllocationWon,
            AllocationLost,
        ],
        "Redemption and allocation outcomes for riders and other systems, keyed by member_id.",
    )
    return deps
