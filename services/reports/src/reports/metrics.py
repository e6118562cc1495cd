"""Domain metrics of the reports service (labels: categories and statuses, never members)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.duplicates = Counter(
            "incentives_reports_duplicates_total",
            "Reports linked to an open duplicate",
            ["category"],
            registry=registry,
        )
        self.photo_reuse = Counter(
            "incentives_reports_photo_reuse_total", "Reports with a photo used before", ["category"], registry=registry
        )
        self.time_to_status = Histogram(
            "incentives_reports_time_to_status_seconds",
            "Time from submission to dispatched, accepted, resolved",
            ["status", "department"],
            registry=registry,
            buckets=(
                600,
                3600,
                4 * 3600,
                12 * 3600,
                86400,
                2 * 86400,
                3 * 86400,
                5 * 86400,
                7 * 86400,
                14 * 86400,
                30 * 86400,
            ),
        )
        self.overdue = Gauge(
            "incentives_reports_overdue",
            "Open reports past their SLA, by district and category",
            ["district", "category"],
            registry=registry,
        )
        self.overdue_announced = Counter(
            "incentives_reports_overdue_announced_total",
            "report.overdue events announced (once per report)",
            registry=registry,
        )
        self.department_rating = Gauge(
            "incentives_reports_department_rating_average",
            "Average rider rating of the handling over the KPI window (reports and needs), by department",
            ["department"],
            registry=registry,
        )
        self.needs_submitted = Counter(
            "incentives_needs_submitted_total", "Riders' needs received, by category", ["category"], registry=registry
        )
        self.needs_overdue = Gauge(
            "incentives_needs_overdue",
            "Open needs past their SLA, by district and category",
            ["district", "category"],
            registry=registry,
        )
        # Per-department KPIs over a trailing window (settings.kpi_gauge_days), for Grafana and the
        # on-time alert. The label is a registered department's id; every unregistered label is
        # summed under "unregistered", so free text from a producer never makes a series.
        self.department_on_time = Gauge(
            "incentives_department_on_time_rate",
            "Resolutions on time / resolutions over the KPI window (absent when none), by department",
            ["department"],
            registry=registry,
        )
        self.department_resolved = Gauge(
            "incentives_department_resolved",
            "Resolutions over the KPI window, by department",
            ["department"],
            registry=registry,
        )
        self.department_overdue_open = Gauge(
            "incentives_department_overdue_open",
            "Open cases past their SLA held by the department now",
            ["department"],
            registry=registry,
        )
        self.reversed = Counter(
            "incentives_reports_reversed_total",
            "Verified reports rejected as invalid or fraudulent",
            ["reason"],
            registry=registry,
        )
