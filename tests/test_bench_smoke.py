"""The benchmark harness: it runs end to end, it judges targets from results.json's keys, it stops cleanly.

No timing is asserted. The smoke run checks that every figure is produced with its min and max and
that the MIX ledger was checked; the unit tests check the met/missed logic, the median/min/max
arithmetic, the guard and the mix's expected ledger on given numbers; the interrupt test sends
SIGINT to a running harness and checks that it exits with its stack's processes gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench import __main__ as harness
from bench import external, pgwork, profile_points, report, workload
from bench.measure import combine

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.timeout(1500)
@pytest.mark.asyncio(loop_scope="session")
async def test_every_benchmark_runs_at_smoke_scale_and_writes_table_and_plots(tmp_path: Path) -> None:
    raw = await harness.run("smoke", harness.ALL)
    sizes = harness.SCALES["smoke"]
    result = report.write(raw, tmp_path)
    assert raw["failed"] == {}, raw["failed"]

    m1, so = raw["M1"], raw["SCALEOUT"]
    for run in (m1["uniform"], so["points_x2"]):
        assert run["events"] == sizes.m1_events and run["credits"] == sizes.m1_events
        assert run["raw_drain_msgs_per_s"] > 0 and run["copy_rows_per_s"] > 0
        assert run["points_peak_rss_mb"] > 0
        assert {"points", "postgresql", "tansu"} <= set(run["cpu_s_per_1000_events"])
        work = run["pg_work"]
        assert work["statements_per_event"] > 0 and work["wal_bytes_per_event"] > 0
        assert work["tables"]["points.transfers"]["inserted"] == 1.0  # one transfer per credit, counted exactly
        assert work["parked_per_event"] == 0  # members known before the drain
    # The runs that only change a parameter of another's path (one account, M3, two notify): full runs only.
    assert m1["hot_issuance_account"] == {} and "points_hot_x2" not in so and "notify_x2_notifications_per_s" not in so
    assert m1["uniform"]["naive_events_per_s"] > 0
    assert "points.transfers" in m1["uniform"]["l1_copy"]["tables"]
    kafkajs = m1["kafkajs"]
    # At smoke size one batch may commit every credit (no rate): that kafkajs delivered them all is the check.
    assert kafkajs.get("credits") == sizes.m1_events or (external.available() and kafkajs["unavailable"])
    mix = raw["MIX"]
    assert mix["ledger_checked"] and mix["expected"]["poison"] >= 0 and mix["credits"] > 0
    m2 = raw["M2"]["at_1000"]
    assert m2["missing_transfers"] == 0 and m2["missing_notifications"] == 0
    assert m2["publish_to_committed_transfer"]["count"] == m2["published"]
    assert len(raw["M2"]["curve"]["points"]) == len(sizes.curve)
    growth = raw["M2"]["broker_growth"]["steps"]  # the broker's fetch against the batches it holds
    assert growth[-1]["batches"] == sizes.m2_rate * sizes.m2_seconds and growth[-1]["fetch_wall_ms_p50"] > 0
    crowd_cpu = raw["M4"]["contention"]["cpu_s_per_1000_requests"]  # the rush alone, the load client too
    assert {"rewards", "postgresql", "client"} <= set(crowd_cpu) and raw["M4"]["contention"]["cpu_busy_share"] > 0
    crowd = raw["M4"]["contention"]
    assert (crowd["confirmed"], crowd["oversold"], crowd["undersold"], crowd["failed_requests"]) == (
        sizes.m4_units,
        0,
        0,
        0,
    )
    assert crowd["confirmed"] + crowd["rejected_out_of_stock"] == sizes.m4_requests
    assert raw["M5"]["commit_to_ack"]["count"] == sizes.m5_paced
    # At smoke size notify may store all 2,000 before the first poll sees one (no rate, as kafkajs above):
    # that every one was stored and pushed (else its waits raise, and the run fails) is the check.
    m6 = raw["M6"]
    assert m6["events"] == sizes.m6_events and (m6["notifications_per_s"] is None or m6["notifications_per_s"] > 0)
    assert "notify" in m6["cpu_s_per_1000_events"]
    assert so["points_x2"]["processes"] == 2 and so["points_x2_events_per_s"] is not None
    assert so["notify_x1_notifications_per_s"] == raw["M6"]["notifications_per_s"]
    assert so["sizing_basis"]["events_per_s_per_core"] > 0
    assert raw["Scale"]["transfers"] == sizes.scale_transfers
    places = raw["AREAS"]  # issue 17's line: lookups over a generated map, timed, in the table
    assert places["areas"] >= 100 and places["lookups_per_s"]["median"] > 0
    assert any(row["id"] == "AREAS" for row in report.metrics(raw))
    console = raw["CONSOLE"]  # every console page answered 200 (else the run failed) and was timed
    assert console["pages"] and all(p["min_ms"] > 0 for p in console["pages"].values())

    written = json.loads((tmp_path / "results.json").read_text())
    for key in (
        "M1.uniform.events_per_s",
        "M1.ceiling_l1_events_per_s",
        "M1.ratio_to_l1",
        "MIX.events_per_s",
        "MIX.ratio_to_m1",
        "M2.at_1000.publish_to_committed_transfer.p99_ms",
        "M2.at_1000.publish_to_inbox_notification.p99_ms",
        "M6.notifications_per_s",
        "M4.contention.drain_s",
        "M4.target_drain_s",
        "M4.contention.oversold",
        "SCALEOUT.points_x2_events_per_s",
    ):
        for suffix in ("", "_min", "_max"):
            assert report.get(written, key + suffix) is not None, key + suffix
    assert all(m["met"] in (True, False) for m in written["metrics"] if m["target"])
    assert written["metrics"] == result["metrics"]
    readme = (tmp_path / "README.md").read_text()
    for image in ("throughput.png", "latency_curve.png", "latency_timeline.png", "scale.png", "cpu.png"):
        assert (tmp_path / image).stat().st_size > 0 and f"]({image})" in readme
    assert "## Scale-out and sizing for a province" in readme and "L1's COPY" in readme


def _figures(**over: Any) -> dict[str, Any]:
    """results.json's keys as issue 19 names them, with numbers that meet every target."""
    raw: dict[str, Any] = {
        "M1": {
            "uniform": {"events_per_s": 12_000, "raw_drain_msgs_per_s": 200_000, "naive_events_per_s": 2_000},
            "ceiling_l1_events_per_s": 20_000,
            "ratio_to_l1": 0.6,
            "guard": [],
        },
        "MIX": {"events_per_s": 9_000, "ratio_to_m1": 0.75, "ledger_checked": True},
        "M2": {
            "at_1000": {
                "rate_per_s": 1000,
                "missing_transfers": 0,
                "missing_notifications": 0,
                "publish_to_committed_transfer": {"p50_ms": 10.0, "p99_ms": 40.0},
                "publish_to_inbox_notification": {"p50_ms": 20.0, "p99_ms": 90.0},
            }
        },
        "M6": {"notifications_per_s": 6_000, "raw_consume_produce_msgs_per_s": 40_000},
        "M4": {
            "contention": {"requests": 1000, "units": 10, "drain_s": 0.8, "oversold": 0, "undersold": 0},
            "target_drain_s": 1.0,
            "drain_over_target": 0.8,
        },
        "SCALEOUT": {
            "points_x1_events_per_s": 12_000,
            "points_x2_events_per_s": 20_000,
            "points_hot_x2_events_per_s": 19_000,
            "m3_hot_over_uniform_x2": 0.95,
        },
    }
    for dotted, value in over.items():
        node = raw
        *path, last = dotted.split("__")
        for part in path:
            node = node[part]
        node[last] = value
    return raw


def _verdicts(raw: dict[str, Any]) -> dict[str, bool]:
    return {f"{m['id']} {m['name']}": m["met"] for m in report.metrics(raw) if m["met"] is not None}


def test_targets_are_met_from_the_keys_of_results_json() -> None:
    verdicts = _verdicts(_figures())
    assert all(verdicts.values()), verdicts
    assert {k.split()[0] for k in verdicts} == {"M1", "GUARD", "MIX", "M2", "M6", "M4", "M3"}


@pytest.mark.parametrize(
    ("change", "missed"),
    [
        ({"M1__uniform__events_per_s": 9_999}, "M1 Kafka -> committed transfers, points alone"),
        ({"M1__ratio_to_l1": 0.49}, "M1 Kafka -> committed transfers, points alone"),
        ({"M1__guard": ["run 1: parked_per_event 0.64 > 0.01"]}, "GUARD"),
        ({"MIX__ratio_to_m1": 0.69}, "MIX"),
        ({"MIX__ledger_checked": False}, "MIX"),
        ({"M2__at_1000__publish_to_committed_transfer__p99_ms": 50.1}, "M2 publish -> committed transfer p99"),
        ({"M2__at_1000__publish_to_inbox_notification__p99_ms": 100.1}, "M2 publish -> stored notification p99"),
        ({"M2__at_1000__missing_notifications": 1}, "M2 publish ->"),
        ({"M6__notifications_per_s": 4_999}, "M6"),
        ({"M4__contention__oversold": 1}, "M4 oversold"),
        ({"M4__contention__undersold": 2}, "M4 undersold"),
        ({"M4__drain_over_target": 1.01}, "M4 drain"),
        ({"SCALEOUT__m3_hot_over_uniform_x2": 0.79}, "M3"),
    ],
)
def test_each_target_is_missed_just_past_its_bound(change: dict[str, Any], missed: str) -> None:
    verdicts = _verdicts(_figures(**change))
    failing = [k for k, met in verdicts.items() if not met]
    assert failing and all(k.startswith(missed) for k in failing), failing


def test_the_worst_run_decides_oversold_and_a_failed_benchmark_is_a_miss() -> None:
    raw = _figures()
    raw["M4"]["contention"] |= {"oversold_min": 0, "oversold_max": 1}  # the median run was fine, one was not
    raw["failed"] = {"MIX": "AssertionError: mix: the ledger differs from the expected one"}
    failing = [k for k, met in _verdicts(raw).items() if not met]
    assert any(k.startswith("M4 oversold") for k in failing)
    assert any(k.startswith("MIX MIX did not complete") for k in failing)


def test_runs_combine_into_median_min_and_max() -> None:
    runs = [
        {"events_per_s": 900, "cpu": {"pg": 0.6}, "guard": ["a"], "name": "slow"},
        {"events_per_s": 2000, "cpu": {"pg": 0.27}, "guard": [], "name": "fast"},
        {"events_per_s": 1000, "cpu": {"pg": None}, "guard": [], "name": "middle"},
    ]
    got = combine(runs, "events_per_s")
    assert (got["events_per_s"], got["events_per_s_min"], got["events_per_s_max"]) == (1000, 900, 2000)
    assert (got["cpu"]["pg"], got["cpu"]["pg_min"], got["cpu"]["pg_max"]) == (0.435, 0.27, 0.6)
    assert got["name"] == "middle" and got["guard"] == [] and got["repeats"] == 3


def test_guard_names_what_is_over_the_clean_paths_bounds() -> None:
    clean = {"statements_per_event": 0.11, "tuples_written_per_event": 11.0, "wal_bytes_per_event": 6333.0}
    assert pgwork.guard({**clean, "parked_per_event": 0.0}, 0.15) == []
    parked = {"statements_per_event": 4.04, "tuples_written_per_event": 13.2, "wal_bytes_per_event": 8011.0}
    over = pgwork.guard({**parked, "parked_per_event": 0.64}, 0.42)
    assert [o.split()[0] for o in over] == [
        "statements_per_event",
        "tuples_written_per_event",
        "wal_bytes_per_event",
        "parked_per_event",
        "postgresql_cpu_s_per_1000",
    ]


def test_the_mix_has_its_shares_and_an_expected_ledger_that_adds_up() -> None:
    records, exp = workload.mix(20_000, 10_000)
    assert len(records) == exp.records
    assert 0.07 < exp.duplicates / exp.records < 0.11 and 0.01 < exp.reversals / exp.records < 0.03
    assert 0.0003 < exp.poison / exp.records < 0.002 and exp.members_capped > 100
    assert exp.credited_reports + exp.capped_reports >= exp.reports  # a cut report may still credit its rest
    values = [v for _, _, v in records]
    assert len(set(values)) == len(values) - exp.duplicates - _repeated_poison(values)
    _, clean = workload.clean(100, 10)
    assert clean.credited_reports == 100 and sum(clean.net.values()) == 500


def _repeated_poison(values: list[bytes]) -> int:
    """Unparseable poison records are the same bytes each time: they count as repeats of each other."""
    bad = [v for v in values if not v.endswith(b"}")]
    return len(bad) - len(set(bad))


def test_profile_summary_ranks_functions_by_own_and_inclusive_time(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text("main (a.py:1);handle (b.py:2);execute (c.py:3) 6\nmain (a.py:1);decode (d.py:4) 4\n")
    summary = profile_points.summarize(raw)
    own = summary.split("## Top functions by inclusive time")[0]
    assert "| 60.0% | 6 | `execute (c.py:3)` |" in own and "| 40.0% | 4 | `decode (d.py:4)` |" in own
    assert "| 100.0% | 10 | `main (a.py:1)` |" in summary.split("## Top functions by inclusive time")[1]


def _stack_processes(harness_pid: int, marker: str) -> list[psutil.Process]:
    """The harness's children (services, Tansu) and the PostgreSQL processes whose data dir is under `marker`."""
    found: list[psutil.Process] = []
    with contextlib.suppress(psutil.NoSuchProcess):
        found += psutil.Process(harness_pid).children(recursive=True)
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []) and proc not in found:
            found.append(proc)
    return found


def _cmdline(proc: psutil.Process) -> str:
    """The process's command line; empty once it has exited (a short-lived pg_ctl may be a zombie for a moment)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_promptly_and_leaves_no_process(sig: signal.Signals) -> None:
    # The stacks' state under a directory of this test's own (pytest's tmp_path is not traversable by
    # the user PostgreSQL runs as), so their processes and files can be found by path.
    tmp_path = Path(tempfile.mkdtemp(prefix="bench-interrupt-"))
    tmp_path.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(tmp_path), "BENCH_KAFKAJS_MODULES": str(tmp_path / "none")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "--scale", "smoke", "--only", "M1", "--out", str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Wait until the stack is up and the points service runs: the moment a Ctrl-C used to leave it all behind.
        deadline, seen = time.monotonic() + 180, []
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _stack_processes(proc.pid, str(tmp_path))
            names = {_cmdline(p) for p in seen}
            if any("serve points" in n for n in names) and any("postgres" in n for n in names):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert seen, "the harness started no stack within 180 s"
        proc.send_signal(sig)
        rc = proc.wait(60)  # the grace period is 20 s; a hung teardown fails here
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert rc == 130, err[-2000:]
        assert "stopping the benchmark" in err
        _gone, alive = psutil.wait_procs(seen, timeout=10)
        assert not alive, [_cmdline(p) for p in alive]
        assert not _stack_processes(proc.pid, str(tmp_path))
        assert not list(tmp_path.glob("incentives-bench-*")), "the stack's state directory was left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_console_page_over_300_ms_is_a_miss() -> None:
    page = {"path": "/", "median_ms": 120.0, "min_ms": 100.0, "max_ms": 400.0, "met": True}
    slow = {**page, "median_ms": 301.0, "met": False}
    raw = {
        "CONSOLE": {
            "members": 100_000,
            "transfers": 1_000_000,
            "reports": 50_000,
            "pages": {"home": page, "reports": slow},
        }
    }
    verdicts = {m["name"].split(" (")[0]: (m["met"], m["min"], m["max"]) for m in report.metrics(raw)}
    assert verdicts == {"page home": (True, 100.0, 400.0), "page reports": (False, 100.0, 400.0)}
