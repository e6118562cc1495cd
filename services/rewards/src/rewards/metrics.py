"""Domain metrics of the rewards service (bounded labels: the catalogue is small, outcomes are fixed)."""

from __future__ import annotations

from incentives_kernel.uow import Work
from prometheus_client import CollectorRegistry, Counter, Gauge

from . import repository as repo


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

    async def refresh(self, work: Work) -> None:
        """Bring the gauges in step with the database (other replicas change stock and rounds too)."""
        async with work() as uow:
            stock = await repo.stock_levels(uow.conn)
            rounds_open = await repo.open_rounds(uow.conn)
        for reward_id, available in stock:
            self.stock.labels(reward_id).set(available)
        self.rounds_open.set(rounds_open)
