"""HTTP RED metrics: route templates (never raw paths) as labels, every answer counted."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from incentives_kernel.http_metrics import UNROUTED, install_http_metrics
from prometheus_client import CollectorRegistry


@pytest.fixture
def app_and_registry() -> tuple[FastAPI, CollectorRegistry]:
    app = FastAPI()
    registry = CollectorRegistry()

    @app.get("/v1/members/{member_id}/balance")
    async def balance(member_id: str) -> dict[str, str]:
        return {"member_id": member_id}

    @app.post("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    install_http_metrics(app, "points", registry)
    return app, registry


def count(registry: CollectorRegistry, **labels: str) -> float:
    return registry.get_sample_value("incentives_points_http_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_template_method_and_status(app_and_registry) -> None:
    app, registry = app_and_registry
    client = TestClient(app, raise_server_exceptions=False)
    for member in ("m-1", "m-2", "m-3"):
        assert client.get(f"/v1/members/{member}/balance").status_code == 200
    assert client.get("/nowhere/m-1").status_code == 404
    assert client.post("/v1/boom").status_code == 500
    route = "/v1/members/{member_id}/balance"
    assert count(registry, route=route, method="GET", status="200") == 3
    assert count(registry, route=UNROUTED, method="GET", status="404") == 1
    assert count(registry, route="/v1/boom", method="POST", status="500") == 1
    # No raw path, hence no member id, in any label.
    for metric in registry.collect():
        for sample in metric.samples:
            assert not any("m-1" in value for value in sample.labels.values()), sample
    observed = registry.get_sample_value(
        "incentives_points_http_request_duration_seconds_count", {"route": route, "method": "GET"}
    )
    assert observed == 3
