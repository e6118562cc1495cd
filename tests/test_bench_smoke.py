"""The whole benchmark harness at its tiny scale, so that `bench/` cannot rot (no timing is asserted).

It runs every benchmark end to end on real embedded stacks, then writes the results file, the
table and the plots to a scratch directory, and checks that every figure is there and the counts
add up: a figure that silently stopped being measured fails here, a slow machine does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import __main__ as harness
from bench import profile_points, report

pytestmark = [pytest.mark.e2e]


@pytest.mark.timeout(1200)
@pytest.mark.asyncio(loop_scope="session")
async def test_every_benchmark_runs_at_smoke_scale_and_writes_table_and_plots(tmp_path: Path) -> None:
    raw = await harness.run("smoke", harness.ALL)
    sizes = harness.SCALES["smoke"]
    result = report.write(raw, tmp_path)

    m1 = raw["M1"]
    for run in (m1["uniform"], m1["hot_issuance_account"]):
        assert run["events"] == sizes.m1_events
        assert run["raw_drain_msgs_per_s"] > 0 and run["copy_rows_per_s"] > 0 and run["naive_events_per_s"] > 0
        assert run["points_peak_rss_mb"] > 0
        assert {"points", "postgresql", "tansu"} <= set(run["cpu_s_per_1000_events"])
    m2 = raw["M2"]
    assert m2["missing_transfers"] == 0 and m2["missing_notifications"] == 0
    assert m2["publish_to_committed_transfer"]["count"] == m2["published"]
    assert m2["publish_to_inbox_notification"]["count"] == m2["published"]
    assert set(m2["peak_rss_mb"]) == {"points", "notify"}
    assert sum(second["count"] for second in m2["ledger_latency_by_second"]) == m2["published"]
    crowd = raw["M4"]["contention"]
    assert (crowd["confirmed"], crowd["oversold"], crowd["undersold"]) == (sizes.m4_units, 0, 0)
    assert crowd["confirmed"] + crowd["rejected_out_of_stock"] == sizes.m4_requests
    assert set(raw["M4"]["peak_rss_mb"]) == {"reports", "points", "rewards", "notify"}
    assert {"rewards", "points", "postgresql", "tansu"} <= set(raw["M4"]["cpu_s_per_1000_redemptions"])
    m5 = raw["M5"]
    assert m5["rows"] == sizes.m5_rows and m5["commit_to_ack"]["count"] == sizes.m5_paced
    assert m5["relay_events_per_s"] > 0 and m5["raw_producer_msgs_per_s"] > 0
    m6 = raw["M6"]
    assert m6["notifications_per_s"] > 0 and m6["raw_consume_produce_msgs_per_s"] > 0 and m6["notify_peak_rss_mb"] > 0
    scale = raw["Scale"]
    assert scale["transfers"] == sizes.scale_transfers
    assert {"balance", "ledger_first_page", "ledger_page_from_cursor", "leaderboard_top100_year_city"} <= set(
        scale["queries"]
    )

    written = json.loads((tmp_path / "results.json").read_text())
    assert written["machine"]["cores"] and written["machine"]["postgresql"] and written["machine"]["packages"]
    ids = {m["id"] for m in written["metrics"]}
    assert ids == {"M1", "M2", "M3", "M4", "M5", "M6", "Scale", "RSS"}
    assert all(m["met"] in (True, False) for m in written["metrics"] if m["target"])
    assert written["metrics"] == result["metrics"]
    readme = (tmp_path / "README.md").read_text()
    for image in ("throughput.png", "latency.png", "latency_timeline.png", "scale.png", "cpu.png"):
        assert (tmp_path / image).stat().st_size > 0 and f"]({image})" in readme
    assert "| M3 | one issuance account vs uniform |" in readme


def test_profile_summary_ranks_functions_by_own_and_inclusive_time(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text("main (a.py:1);handle (b.py:2);execute (c.py:3) 6\nmain (a.py:1);decode (d.py:4) 4\n")
    summary = profile_points.summarize(raw)
    own = summary.split("## Top functions by inclusive time")[0]
    assert "| 60.0% | 6 | `execute (c.py:3)` |" in own and "| 40.0% | 4 | `decode (d.py:4)` |" in own
    assert "| 100.0% | 10 | `main (a.py:1)` |" in summary.split("## Top functions by inclusive time")[1]


def test_targets_are_judged_against_the_same_run_anchors() -> None:
    run = {"raw_drain_msgs_per_s": 20_000, "copy_rows_per_s": 30_000, "naive_events_per_s": 700}
    raw = {
        "M1": {
            "uniform": {**run, "events_per_s": 12_000, "points_peak_rss_mb": 80.0},
            "hot_issuance_account": {**run, "events_per_s": 9_000, "points_peak_rss_mb": 80.0},
        },
        "M5": {
            "relay_events_per_s": 20_000,
            "raw_producer_msgs_per_s": 40_000,
            "ratio_to_raw_producer": 0.5,
            "paced_rate_per_s": 1000,
            "commit_to_ack": {"p99_ms": 60.0},
        },
    }
    met = {(m["id"], m["name"]): m["met"] for m in report.metrics(raw) if m["target"]}
    assert met == {
        ("M1", "Kafka -> committed transfers"): True,  # 12,000/s and 0.6 of the 20,000/s ceiling
        ("M3", "one issuance account vs uniform"): False,  # 0.75 < 0.8
        ("M5", "outbox relay"): True,
        ("M5", "commit -> broker ack p99 at 1000/s"): False,
    }
    raw["M1"]["uniform"]["raw_drain_msgs_per_s"] = 30_000  # 12,000/s is now 0.4 of the ceiling
    assert not next(m for m in report.metrics(raw) if m["id"] == "M1")["met"]
