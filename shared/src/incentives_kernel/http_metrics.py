"""RED metrics of the HTTP API: requests by route, method and status, and their duration.

The route label is the matched route's template (`/v1/members/{member_id}/balance`), never the path
itself, so a member id never becomes a label and the number of series stays bounded: a request that
matched no route (404, or refused before routing by HttpGuard: 401, 413) is counted as `unrouted`.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNROUTED = "unrouted"
# Seconds; from a cached read (~1 ms) to a slow redemption under contention.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        p = f"incentives_{service}"
        self.requests = Counter(
            f"{p}_http_requests_total",
            "HTTP requests answered, by route template, method and status code",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{p}_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template and method",
            ["route", "method"],
            registry=registry,
            buckets=BUCKETS,
        )


class HttpMetricsMiddleware:
    """Outermost ASGI middleware: sees every answer, those of the guard and of errors included."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes is answered 500 further out

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNROUTED
            method = str(scope.get("method", "GET"))
            self.metrics.requests.labels(route=route, method=method, status=str(status)).inc()
            self.metrics.duration.labels(route=route, method=method).observe(time.perf_counter() - started)


def install_http_metrics(app: Starlette, service: str, registry: CollectorRegistry) -> None:
    """Add the middleware to a FastAPI/Starlette app (after every other add_middleware: outermost)."""
    app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(service, registry))
