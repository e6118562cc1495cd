"""Domain metrics of the notify service (labels: kinds, channels, locales, outcomes and our endpoint ids;
never members, never URLs)."""

from __future__ import annotations

from collections.abc import Mapping

from incentives_kernel.metrics import Children
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The outcomes each channel can have (listed at zero from the start, so dashboards see every series).
OUTCOMES = {
    "inbox": ("delivered",),
    "push": ("delivered", "deferred", "muted"),
    "webhook": ("delivered", "failed", "dead_lettered", "deferred", "muted"),
}


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.created = Counter(
            "incentives_notify_notifications_created_total",
            "Notifications created, by kind, channel and locale",
            ["kind", "channel", "locale"],
            registry=registry,
        )
        self.deliveries = Counter(
            "incentives_notify_deliveries_total",
            "Delivery outcomes by channel: delivered, failed (an attempt, retried), dead_lettered, deferred"
            " (quiet hours), muted (the member's preference)",
            ["channel", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "incentives_notify_delivery_latency_seconds",
            "From the notification's creation to its accepted delivery (push: written to the outbox)",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 43200),
            registry=registry,
        )
        self.dead_letters = Gauge(
            "incentives_notify_webhook_dead_letters",
            "Webhook deliveries dead-lettered now (until re-driven)",
            registry=registry,
        )
        self.circuit_open = Gauge(
            "incentives_notify_webhook_circuit_open",
            "1 while an endpoint's circuit breaker is open or half-open, 0 when closed",
            ["endpoint_id"],
            registry=registry,
        )
        # Per-event paths take the children memoised (kernel metrics.Children).
        self.created_as = Children(self.created)
        self.deliveries_as = Children(self.deliveries)
        self._latency_of = Children(self.latency)
        for channel, outcomes in OUTCOMES.items():
            for outcome in outcomes:
                self.deliveries_as(channel, outcome)

    def delivered(self, channel: str, latency_s: float | None) -> None:
        self.deliveries_as(channel, "delivered").inc()
        if latency_s is not None:
            self._latency_of(channel).observe(max(latency_s, 0.0))

    def count(
        self, created: Mapping[tuple[str, str, str], int], outcomes: Mapping[tuple[str, str], int], now: int
    ) -> None:
        """A run's notifications at once: created by (kind, channel, locale), delivery outcomes by
        (channel, outcome), and `now` pushes delivered at once (a latency of 0 each), as `delivered`."""
        for labels, n in created.items():
            self.created_as(*labels).inc(n)
        for (channel, outcome), n in outcomes.items():
            self.deliveries_as(channel, outcome).inc(n)
        if now:
            latency = self._latency_of("push")
            for _ in range(now):
                latency.observe(0.0)
