"""A tiny run of each benchmark harness, so that `bench/` cannot rot (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

BENCH = Path(__file__).parent.parent / "bench"


async def test_thin_flow_harness_runs_and_reports_every_figure() -> None:
    spec = importlib.util.spec_from_file_location("bench_thin_flow", BENCH / "thin_flow.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = await module.main(10)
    assert result["inbound_events"] == 30
    assert set(result["seconds_from_first_publish"]) == {"reports", "credits", "notifications"}
    assert result["anchor_raw_drain_msgs_per_s"] > 0
    assert result["inbound_events_per_s_to_notifications"] > 0
