"""Domain metrics of the points service (labels: kinds only, never members)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class PointsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.credited = Counter(
            "incentives_points_credited_points_total",
            "Points credited to members, by kind",
            ["kind"],
            registry=registry,
        )
        self.transfers = Counter(
            "incentives_points_transfers_total",
            "Earning transfers appended (report, rating, volunteer), by kind",
            ["kind"],
            registry=registry,
        )

        self.reversed = Counter(
            "incentives_points_reversed_points_total",
            "Points taken back by reversals, by kind",
            ["kind"],
            registry=registry,
        )
        self.capped = Counter(
            "incentives_points_capped_points_total",
            "Points the daily cap did not credit, by kind",
            ["kind"],
            registry=registry,
        )

        self.holds = Counter(
            "incentives_points_holds_total",
            "Hold outcomes: placed, captured, released, expired, rejected_<reason>",
            ["outcome"],
            registry=registry,
        )
        self.holds_open = Gauge("incentives_points_holds_open", "Holds pending now", registry=registry)

    def credit(self, kind: str, amount: int) -> None:
        self.credited.labels(kind).inc(amount)
        self.transfers.labels(kind).inc()
