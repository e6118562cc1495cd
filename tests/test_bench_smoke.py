"""A tiny run of each benchmark harness, so that `bench/` cannot rot (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

BENCH = Path(__file__).parent.parent / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_thin_flow_harness_runs_and_reports_every_figure() -> None:
    module = load("thin_flow")
    result = await module.main(10)
    assert result["inbound_events"] == 30
    assert set(result["seconds_from_first_publish"]) == {"reports", "credits", "notifications"}
    assert result["anchor_raw_drain_msgs_per_s"] > 0
    assert result["inbound_events_per_s_to_notifications"] > 0


async def test_points_ledger_harness_runs_and_reports_every_figure() -> None:
    result = await load("points_ledger").one_run(60, 20, districts=3)
    assert set(result) == {
        "events_per_s",
        "raw_drain_msgs_per_s",
        "copy_rows_per_s",
        "points_peak_rss_mb",
        "points_cpu_us_per_event",
    }
    assert result["raw_drain_msgs_per_s"] > 0 and result["copy_rows_per_s"] > 0 and result["points_peak_rss_mb"]


async def test_points_scale_harness_runs_and_reports_every_query() -> None:
    result = await load("points_scale").main(200, 3)
    assert result["earned_by_day_rows"] > 0
    assert set(result["queries"]) == {
        "leaderboard_top100_month_city",
        "leaderboard_top100_year_city",
        "leaderboard_top100_all_city",
        "leaderboard_top100_year_district",
        "earned_365d_one_member",
    }


async def test_redemptions_harness_runs_and_reports_every_figure() -> None:
    result = await load("redemptions").main(30, 3, 20, 10)
    crowd = result["contention"]
    assert (crowd["confirmed"], crowd["rejected_out_of_stock"], crowd["oversold"], crowd["undersold"]) == (3, 27, 0, 0)
    assert result["anchor_sql_conditional_update_s"] > 0 and result["anchor_kafka_round_trip_s"] > 0
    assert result["sustained"]["confirmed"] == 20
