"""Domain metrics of the points service (labels: kinds only, never members)."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def count_run(self, run: RunCounts) -> None:
        """What a run of credits and reversals did, counted once per kind (labels() is not free)."""
        for kind, (points, transfers) in run.credited.items():
            self.credited.labels(kind).inc(points)
            self.transfers.labels(kind).inc(transfers)
        for kind, points in run.capped.items():
            self.capped.labels(kind).inc(points)
        for kind, points in run.reversed.items():
            self.reversed.labels(kind).inc(points)


@dataclass
class RunCounts:
    """The domain metrics of a run, per kind: credited (points, transfers), capped and reversed points."""

    credited: dict[str, tuple[int, int]] = field(default_factory=dict)
    capped: dict[str, int] = field(default_factory=dict)
    reversed: dict[str, int] = field(default_factory=dict)

    def earned(self, kind: str, credited: int, cut: int) -> None:
        if credited:
            points, transfers = self.credited.get(kind, (0, 0))
            self.credited[kind] = (points + credited, transfers + 1)
        if cut:
            self.capped[kind] = self.capped.get(kind, 0) + cut

    def took_back(self, kind: str, amount: int) -> None:
        self.reversed[kind] = self.reversed.get(kind, 0) + amount
