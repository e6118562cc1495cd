"""The rewards service's consumer: the members projection (eligibility needs district and activity)."""

from __future__ import annotations

from incentives_kernel import members, topics
from incentives_kernel.events import INBOUND_TYPES
from incentives_kernel.runtime import ServiceRuntime

from .metrics import RewardsMetrics


def register(runtime: ServiceRuntime) -> None:
    metrics = RewardsMetrics(runtime.registry)
    runtime.add_background(lambda: metrics.refresh_stock(lambda: runtime.pool))
    runtime.consume(
        [topics.MEMBERS],
        members.USE_CASES,
        INBOUND_TYPES,
        description="Members (projection used for eligibility)",
    )
