"""Domain metrics of the rewards service: stock left per reward (the catalogue is small: bounded labels)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog
from prometheus_client import CollectorRegistry, Gauge

from . import repository as repo

log = structlog.get_logger(__name__)


class RewardsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.stock = Gauge(
            "incentives_rewards_stock_available", "Units of each reward left", ["reward_id"], registry=registry
        )

    async def refresh_stock(self, pool: Callable[[], asyncpg.Pool], every_s: float = 15.0) -> None:
        """Keep the stock gauge in step with the database (stock also changes through other replicas)."""
        while True:
            try:
                async with pool().acquire() as conn:
                    for reward_id, available in await repo.stock_levels(conn):
                        self.stock.labels(reward_id).set(available)
            except Exception as exc:  # the next round retries; metrics must never stop the service
                log.warning("stock gauge refresh failed", error=type(exc).__name__)
            await asyncio.sleep(every_s)
