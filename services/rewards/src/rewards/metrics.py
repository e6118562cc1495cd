"""Domain metrics of the rewards service (bounded labels: the catalogue is small, outcomes are fixed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from . import repository as repo

log = structlog.get_logger(__name__)


class RewardsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.stock = Gauge(
            "incentives_rewards_stock_available", "Units of each reward left", ["reward_id"], registry=registry
        )
        self.redemptions = Counter(
            "incentives_rewards_redemptions_total",
            "Redemptions by outcome: confirmed, rejected_<reason>, cancelled, fulfilled",
            ["outcome"],
            registry=registry,
        )
        self.applications = Counter(
            "incentives_rewards_applications_total",
            "Allocation applications by outcome: applied, won, lost_<reason>",
            ["outcome"],
            registry=registry,
        )
        self.rounds_closed = Counter(
            "incentives_rewards_allocation_rounds_closed_total", "Allocation rounds closed", registry=registry
        )
        self.rounds_open = Gauge(
            "incentives_rewards_allocation_rounds_open", "Allocation rounds taking applications", registry=registry
        )

    async def refresh(self, pool: Callable[[], asyncpg.Pool], every_s: float = 15.0) -> None:
        """Keep the gauges in step with the database (other replicas change stock and rounds too)."""
        while True:
            try:
                async with pool().acquire() as conn:
                    for reward_id, available in await repo.stock_levels(conn):
                        self.stock.labels(reward_id).set(available)
                    self.rounds_open.set(await repo.open_rounds(conn))
            except Exception as exc:  # the next round retries; metrics must never stop the service
                log.warning("rewards gauge refresh failed", error=type(exc).__name__)
            await asyncio.sleep(every_s)
