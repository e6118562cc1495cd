"""The provisioned Grafana dashboards, read as Grafana reads them: structure, data source, layout.

Whether each query returns data is tested against a real Prometheus in test_prometheus_live.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.prom import DASHBOARDS_DIR, ROOT, dashboard_files, panels

DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
SERVICES = ("reports", "points", "rewards", "notify")


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def provisioned_uid() -> str:
    [prom] = [d for d in yaml.safe_load(DATASOURCES.read_text())["datasources"] if d["type"] == "prometheus"]
    uid: str = prom["uid"]
    return uid


def test_an_overview_and_one_dashboard_per_service() -> None:
    uids = {load(p)["uid"] for p in dashboard_files()}
    assert uids == {"incentives-overview", "incentives-postgres", *(f"incentives-{s}" for s in SERVICES)}
    assert len(dashboard_files()) == len(uids), "two files share a uid"
    # The provider makes one folder per sub-directory: keep them all in one folder.
    assert {p.parent for p in dashboard_files()} == {DASHBOARDS_DIR / "incentives"}


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    board = load(path)
    assert board["title"].startswith("incentives / ")
    assert board.get("id") is None, "a provisioned dashboard carries no database id"
    assert "incentives" in board["tags"]
    assert board["templating"]["list"] == [], "queries use only Grafana's built-in $__rate_interval"
    uid = provisioned_uid()
    seen_ids = set()
    for panel in panels(board):
        assert panel["id"] not in seen_ids, f"{path.name}: panel id {panel['id']} twice"
        seen_ids.add(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel.get("description") is not None, panel
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{path.name}: {panel['title']} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_panels_do_not_overlap_and_fit_the_grid(path: Path) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(load(path)):
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in taken, f"{path.name}: {panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_each_service_dashboard_shows_red_lag_outbox_and_dlq() -> None:
    """The rows every service dashboard has, whatever its domain panels are."""
    for service in SERVICES:
        exprs = " ".join(
            t["expr"]
            for p in panels(load(DASHBOARDS_DIR / "incentives" / f"{service}.json"))
            for t in p.get("targets", [])
        )
        for needed in (
            f'faststream_received_processed_messages_total{{app_name="{service}"',
            f'faststream_received_processed_messages_duration_seconds_bucket{{app_name="{service}"}}',
            f"incentives_{service}_consumer_lag_messages",
            f"incentives_{service}_outbox_oldest_pending_age_seconds",
            f"incentives_{service}_outbox_pending_rows",
            f"incentives_{service}_dlq_messages_total",
            f"incentives_{service}_ready",
            f'up{{job="{service}"}}',
            f"incentives_{service}_http_requests_total",
            f"incentives_{service}_http_request_duration_seconds_bucket",
        ):
            assert needed in exprs, f"{service}.json has no panel on {needed}"
