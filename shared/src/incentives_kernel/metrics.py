"""Metrics every service has, on the service's own registry, named incentives_<service>_...

Labels are topics, reasons and outcomes: never member ids or anything personal.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase


class Children:
    """A labelled metric's children, memoised by their label values.

    prometheus_client's `labels()` checks and normalises its arguments on every call (about 20 us);
    a consumer asking per event spent 8% of its time there (bench.notify_profile). Label values
    here come from small fixed sets (kinds, channels, locales, outcomes), so the memo stays small.
    """

    def __init__(self, metric: MetricWrapperBase) -> None:
        self.metric = metric
        self._known: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._known.get(values)
        if child is None:
            child = self._known[values] = self.metric.labels(*values)
        return child


class KernelMetrics:
    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        p = f"incentives_{service}"
        self.registry = registry
        self.events_handled = Counter(
            f"{p}_events_handled_total",
            "Inbound events handled, by topic, type and outcome",
            ["topic", "type", "outcome"],
            registry=registry,
        )
        self.dlq = Counter(
            f"{p}_dlq_messages_total",
            "Messages sent to a dead-letter topic, by source topic and reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.unauthenticated = Counter(
            f"{p}_http_unauthenticated_total",
            "HTTP calls to /v1 refused with 401: no bearer token (missing) or one that is not valid (invalid)",
            ["reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            f"{p}_http_rate_limited_total",
            "HTTP calls refused with 429, by rate-limited route group and caller role",
            ["route", "role"],
            registry=registry,
        )
        self.duplicates = Counter(
            f"{p}_duplicate_events_skipped_total",
            "Events skipped because the inbox had them already",
            ["topic"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            f"{p}_batch_seconds",
            "Time to handle one consumed batch in one transaction",
            ["topic"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = Histogram(
            f"{p}_batch_records",
            "Records per consumed batch",
            ["topic"],
            registry=registry,
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
        )
        self.transient_failures = Counter(
            f"{p}_consumer_transient_failures_total",
            "Batches rolled back and retried (infrastructure errors, or a failure outside one event)",
            ["topic"],
            registry=registry,
        )
        self.last_event_ts = Gauge(
            f"{p}_last_processed_event_timestamp_seconds",
            "CloudEvent time of the last event handled",
            ["topic"],
            registry=registry,
        )
        self.parked = Gauge(
            f"{p}_parked_events", "Events waiting for what they depend on (a member, a report)", registry=registry
        )
        self.consumer_lag = Gauge(
            f"{p}_consumer_lag_messages",
            "High-water mark minus position, per assigned partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.outbox_published = Counter(
            f"{p}_outbox_published_total", "Outbox rows published to the broker", ["topic"], registry=registry
        )
        self.outbox_pending = Gauge(
            f"{p}_outbox_pending_rows", "Committed outbox rows not yet published", registry=registry
        )
        self.outbox_oldest_age = Gauge(
            f"{p}_outbox_oldest_pending_age_seconds", "Age of the oldest unpublished outbox row", registry=registry
        )
        self.outbox_failures = Counter(
            f"{p}_outbox_relay_failures_total", "Relay rounds that failed and were retried", registry=registry
        )
        self.ready = Gauge(
            f"{p}_ready", "1 when the database and broker are reachable and consumers healthy", registry=registry
        )
        # Labelled `job_name`, not `job`: Prometheus's target label `job` (the service) would win at
        # scrape time and rename ours to `exported_job`, so a rule on {job="expire_holds"} would never match.
        self.job_runs = Counter(
            f"{p}_job_runs_total", "Runs of each background job, failed ones included", ["job_name"], registry=registry
        )
        self.job_failures = Counter(
            f"{p}_job_failures_total",
            "Runs of each background job that failed (retried next run)",
            ["job_name"],
            registry=registry,
        )
        self.job_last_success = Gauge(
            f"{p}_job_last_success_timestamp_seconds",
            "When each background job last ran without failing (Unix time)",
            ["job_name"],
            registry=registry,
        )
        # With these two an alert can tell a job that has not succeeded for too long, whatever its
        # interval, including one that has never succeeded since its process started.
        self.job_started = Gauge(
            f"{p}_job_started_timestamp_seconds",
            "When each background job's loop started in this process (Unix time)",
            ["job_name"],
            registry=registry,
        )
        self.job_interval = Gauge(
            f"{p}_job_interval_seconds",
            "How long each background job waits between runs when nothing wakes it",
            ["job_name"],
            registry=registry,
        )
        self.db_pool_size = Gauge(f"{p}_db_pool_size", "Connections in the pool", registry=registry)
        self.db_pool_in_use = Gauge(f"{p}_db_pool_in_use", "Connections checked out", registry=registry)

    # RelayObserver
    def published(self, topic: str, count: int) -> None:
        self.outbox_published.labels(topic).inc(count)

    def backlog(self, pending: int, oldest_age_s: float) -> None:
        self.outbox_pending.set(pending)
        self.outbox_oldest_age.set(oldest_age_s)

    def failed(self) -> None:
        self.outbox_failures.inc()
