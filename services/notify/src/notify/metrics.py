"""Domain metrics of the notify service (labels: kinds, channels and locales, never members)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.created = Counter(
            "incentives_notify_notifications_created_total",
            "Notifications created, by kind, channel and locale",
            ["kind", "channel", "locale"],
            registry=registry,
        )
