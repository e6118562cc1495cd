"""Domain metrics of the reports service (labels: categories and statuses, never members)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ReportsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.submitted = Counter(
            "incentives_reports_submitted_total", "Reports received, by category", ["category"], registry=registry
        )
        self.status_changes = Counter(
            "incentives_reports_status_changes_total",
            "Status changes applied, by status",
            ["status"],
            registry=registry,
        )
        self.verified = Counter(
            "incentives_reports_verified_total",
            "Reports verified (they earn), by category",
            ["category"],
            registry=registry,
        )
        self.reversed = Counter(
            "incentives_reports_reversed_total",
            "Verified reports rejected as invalid or fraudulent",
            ["reason"],
            registry=registry,
        )
