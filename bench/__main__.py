"""Every benchmark in one run: results.json, README.md (the table) and PNG plots under docs/benchmarks/.

    uv run python -m bench [--scale default|smoke] [--only M1,MIX,M2,M4,M5,M6,SCALEOUT,Scale,CONSOLE,AREAS]
                           [--repeats N] [--out DIR] [--profile] [--merge]

The environment may say the same: BENCH_SCALE, BENCH_ONLY, BENCH_REPEATS, BENCH_OUT, PROFILE=1, and
BENCH_MERGE=1 (keep the other benchmarks' figures of the existing results.json); BENCH_NOTE adds a
line on the conditions to the README. Each figure is the median of `repeats` runs (3 by default)
with its min and max; the runs of M1, its kafkajs variant and MIX are interleaved round by round,
so a quiet or a busy minute does not favour one of them. `smoke` is a tiny run that checks the
harness end to end (its figures mean nothing): its benchmarks run side by side, each on its own
stack, and the runs that only change another run's parameter are left out (`Sizes`). Ctrl-C or
SIGTERM stops the run and its stacks.
A benchmark that fails (a wait that ran out, a ledger that differs from the expected one, a refused
request) is recorded under `failed` in results.json and the run exits 1 after writing the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    areas,
    broker_growth,
    console_pages,
    external,
    fanout,
    latency,
    lifecycle,
    points_ledger,
    points_scale,
    redemptions,
    relay,
    report,
)
from bench.measure import combine, machine, note, spread

ALL = ("M1", "MIX", "M2", "M4", "M5", "M6", "SCALEOUT", "Scale", "CONSOLE", "AREAS")  # M3 is part of SCALEOUT's run
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
CURVE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # of the measured maximum


@dataclass(frozen=True)
class Sizes:
    repeats: int
    m1_events: int
    m1_members: int
    naive_events: int
    m2_rate: float
    m2_seconds: float
    curve_step_seconds: float
    m4_requests: int
    m4_units: int
    m4_sustained: int
    m4_members: int
    m5_rows: int
    m5_paced: int
    m6_events: int
    m6_members: int
    curve_cap: float | None  # the curve's 100% at most this (a smoke run's rates mean nothing)
    scale_members: int
    scale_days: int
    scale_transfers: int
    curve: tuple[float, ...] = CURVE  # M2's curve: its steps, as fractions of the measured maximum
    rtt_samples: int = 20  # M4's anchor: the median of this many Kafka round trips (each about 250 ms on Tansu)
    scale_samples: int = 1000  # Scale: timed queries per read path (three tenths of it per leaderboard)
    broker_fetches: int = 100  # M2's broker anchor: fetches timed at each number of batches held
    # The runs that repeat another run's code path with another parameter: M1 with one issuance account,
    # M3 (the same with two processes) and two notify processes. Full runs only.
    variants: bool = True
    m2_curve_on_run_stack: bool = False  # M2's curve on the stack of its (last) run, not on one of its own
    # Benchmarks side by side in lanes (`run`): a smoke run only; measured figures need the cores to themselves.
    side_by_side: bool = False


SCALES = {
    # About 45 minutes on 2 idle cores: 3 rounds of M1 (+ kafkajs, MIX), M2 3 x 60 s + the curve, ...
    "default": Sizes(
        3,
        20_000,
        10_000,
        3_000,
        1000,
        60,
        15,
        1_000,
        10,
        2_000,
        200,
        20_000,
        2_000,
        30_000,  # M6: at 8,000/s a 10,000-event drain lasted ~1 s, short against the 0.1 s polls
        5_000,
        None,
        100_000,
        30,
        10_000_000,
    ),
    # Every benchmark's code path once, end to end (tests/test_bench_smoke.py); its figures mean nothing.
    "smoke": Sizes(
        1,
        1_500,
        300,
        100,
        50,
        2,
        1,
        30,
        3,
        20,
        10,
        500,
        100,
        2_000,  # M6: enough that the drain outlasts the first poll (its rate is undefined otherwise)
        50,
        60,
        1_000,
        2,
        20_000,
        curve=(0.5, 1.0),
        rtt_samples=3,
        scale_samples=50,
        broker_fetches=10,
        variants=False,
        m2_curve_on_run_stack=True,
        side_by_side=True,
    ),
}


async def _guarded(failed: dict[str, str], name: str, work: Callable[[], Awaitable[Any]]) -> Any:
    """Runs one benchmark; a failure is recorded with its reason and the run goes on with the others."""
    try:
        return await work()
    except Exception as exc:  # reported in results.json and by the exit status
        text = f"{type(exc).__name__}: {exc}"
        # The head says what failed, the tail why (a service's log ends with its error).
        failed[name] = text if len(text) <= 3000 else f"{text[:600]} ... {text[-2400:]}"
        note(f"[bold red]{name} failed[/]: {failed[name]}")
        traceback.print_exc(file=sys.stderr)
        return None


def _pick(runs: list[dict[str, Any]], key: str) -> list[Any]:
    return [r.get(key) for r in runs]


async def run_m1(s: Sizes, reps: int, only: tuple[str, ...], failed: dict[str, str]) -> dict[str, Any]:
    """Rounds of M1 (uniform), its kafkajs twin and MIX, interleaved; one issuance account once a round."""
    raw: dict[str, Any] = {}
    rounds: dict[str, list[dict[str, Any]]] = {"uniform": [], "hot": [], "kafkajs": [], "mix": []}
    kafkajs_missing = external.available()
    for r in range(reps):
        note(f"[bold]M1 round {r + 1} of {reps}[/]")
        plan: list[tuple[str, dict[str, Any]]] = []
        if "M1" in only:
            plan.append(("uniform", {"districts": 50}))
            if s.variants:  # one issuance account with one process: informational, not in a smoke run
                plan.append(("hot", {"districts": 1}))
            if not kafkajs_missing:
                plan.append(("kafkajs", {"districts": 50, "producer": "kafkajs"}))
        if "MIX" in only:
            plan.append(("mix", {"districts": 50, "kind": "mix"}))

        async def one(name: str, opts: dict[str, Any]) -> tuple[str, Any]:
            label = "MIX" if name == "mix" else "M1"
            return name, await _guarded(
                failed,
                f"{label}.{name}" if label == "M1" else "MIX",
                lambda: points_ledger.one_run(
                    s.m1_events, s.m1_members, naive=s.naive_events if opts.get("kind") != "mix" else 0, **opts
                ),
            )

        if s.side_by_side:  # a smoke run: the round's runs at once, each on its own stack
            got_all = await asyncio.gather(*(one(name, opts) for name, opts in plan))
        else:
            got_all = [await one(name, opts) for name, opts in plan]
        for name, got in got_all:
            if got:
                rounds[name].append(got)
    if "M1" in only and rounds["uniform"]:
        uniform = combine(rounds["uniform"], "events_per_s")
        hot = combine(rounds["hot"], "events_per_s") if rounds["hot"] else {}
        m1: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "events": s.m1_events,
            "members": s.m1_members,
            "uniform": uniform,
            "hot_issuance_account": hot,
            "runs": [_brief(x) for x in rounds["uniform"]],
            "target_events_per_s": 10000,
            "target_ratio_to_l1": 0.5,
        }
        for key in ("ceiling_l1_events_per_s", "ratio_to_l1"):
            m1[key], m1[f"{key}_min"], m1[f"{key}_max"] = spread(_pick(rounds["uniform"], key))
        m1["ratio_to_raw_drain"] = _ratio(uniform["events_per_s"], uniform["raw_drain_msgs_per_s"])
        m1["ratio_to_copy"] = _ratio(uniform["events_per_s"], uniform["copy_rows_per_s"])
        m1["ratio_to_naive"] = _ratio(uniform["events_per_s"], uniform.get("naive_events_per_s"))
        m1["hot_over_uniform"] = _ratio(hot.get("events_per_s"), uniform["events_per_s"])
        m1["guard"] = [f"run {i + 1}: {g}" for i, x in enumerate(rounds["uniform"]) for g in x["guard"]]
        if rounds["kafkajs"]:
            m1["kafkajs"] = combine(rounds["kafkajs"], "events_per_s")
        else:
            m1["kafkajs"] = {"unavailable": kafkajs_missing or "every kafkajs run failed (see failed)"}
        raw["M1"] = m1
    if "MIX" in only and rounds["mix"]:
        mix = combine(rounds["mix"], "events_per_s")
        # Per round: MIX beside that round's clean M1, so both saw the same minute of the machine.
        ratios = [
            _ratio(x.get("events_per_s"), u.get("events_per_s"))
            for x, u in zip(rounds["mix"], rounds["uniform"], strict=False)
        ]
        mix["ratio_to_m1"], mix["ratio_to_m1_min"], mix["ratio_to_m1_max"] = spread(ratios)  # type: ignore[arg-type]
        mix["ledger_checked"] = True  # a run whose ledger differed raised instead (see failed)
        mix["target_ratio_to_m1"] = 0.7
        raw["MIX"] = mix
    return raw


def _brief(run: dict[str, Any]) -> dict[str, Any]:
    work = run.get("pg_work", {})
    keep = ("events_per_s", "ceiling_l1_events_per_s", "ratio_to_l1", "raw_drain_msgs_per_s", "copy_rows_per_s")
    return {
        **{k: run.get(k) for k in keep},
        "cpu_s_per_1000_events": run.get("cpu_s_per_1000_events"),
        **{k: v for k, v in work.items() if isinstance(v, int | float)},
    }


def _ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and a and b else None


async def run_m2(s: Sizes, reps: int, maximum: float | None, failed: dict[str, str]) -> dict[str, Any] | None:
    steps = [(round(maximum * f, 1), s.curve_step_seconds) for f in s.curve] if maximum else []
    runs, curve = [], None
    for r in range(reps):
        note(f"[bold]M2[/] run {r + 1} of {reps}: {s.m2_rate:.0f} events/s offered for {s.m2_seconds:.0f} s")
        if steps and s.m2_curve_on_run_stack and r == reps - 1:
            # One stack for the run and then the curve's steps (a smoke run: one stack fewer to start).
            note(f"[bold]M2 curve[/]: {len(steps)} steps up to {maximum:,.0f}/s, after the run on its stack")
            got = await _guarded(failed, "M2", lambda: latency.main(steps=[(s.m2_rate, s.m2_seconds), *steps]))
            if got:
                both = got.pop("steps")
                curve = {**got, "steps": both[1:]}
        else:
            got = await _guarded(failed, "M2", lambda: latency.main(s.m2_rate, s.m2_seconds))
        if got:
            runs.append(got)
    if not runs:
        return None
    at = combine(runs, "publish_to_committed_transfer.p99_ms")
    out: dict[str, Any] = {**at, "at_1000": at}
    # What the embedded broker pays per fetch as batches pile up (it lists them all): M2 leaves up to
    # one per record offered, so this is the broker's part of M2's latency and CPU, apart.
    sizes = [0, *(round(s.m2_rate * s.m2_seconds * f) for f in (1 / 6, 1 / 2, 1))]
    growth = await _guarded(failed, "M2.broker", lambda: broker_growth.main(sizes, s.broker_fetches))
    if growth:
        out["broker_growth"] = growth
    if steps and curve is None:
        note(f"[bold]M2 curve[/]: {len(steps)} steps up to the measured maximum {maximum:,.0f}/s")
        curve = await _guarded(failed, "M2.curve", lambda: latency.main(steps=steps))
    if curve:
        out["curve"] = {
            "maximum_per_s": maximum,
            "points": [
                {
                    "offered_per_s": st["rate_per_s"],
                    "fraction": f,
                    "ledger": st["publish_to_committed_transfer"],
                    "inbox": st["publish_to_inbox_notification"],
                }
                for f, st in zip(s.curve, curve["steps"], strict=True)
            ],
        }
    return out


async def run_repeated(
    name: str, reps: int, failed: dict[str, str], by: str, work: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any] | None:
    runs = []
    for r in range(reps):
        note(f"[bold]{name}[/] run {r + 1} of {reps}")
        got = await _guarded(failed, name, work)
        if got:
            runs.append(got)
    return combine(runs, by) if runs else None


async def run_scaleout(
    s: Sizes,
    reps: int,
    ready: Callable[[], Awaitable[tuple[dict[str, Any] | None, dict[str, Any] | None]]],
    failed: dict[str, str],
) -> dict[str, Any]:
    """Two points processes (uniform, then one issuance account: M3) and two notify, on the same partitions.

    `ready` gives M1's and M6's figures of this run (None if they did not run), once they are done:
    the one-process runs are theirs, and made here only without them.
    """
    rounds: dict[str, list[dict[str, Any]]] = {"x1": [], "x2": [], "hot_x2": [], "notify_x1": [], "notify_x2": []}
    m1: dict[str, Any] | None = None
    m6: dict[str, Any] | None = None

    async def points(name: str, districts: int, processes: int) -> None:
        got = await _guarded(
            failed,
            f"SCALEOUT.{name}",
            lambda: points_ledger.one_run(s.m1_events, s.m1_members, districts, 0, processes=processes),
        )
        if got:
            rounds[name].append(got)

    for r in range(reps):
        note(f"[bold]SCALEOUT round {r + 1} of {reps}[/]")
        await points("x2", 50, 2)
        if s.variants:
            await points("hot_x2", 1, 2)
        m1, m6 = await ready()
        if not m1:
            await points("x1", 50, 1)
        # One notify process is M6 itself when M6 ran in this run.
        notify_runs = (("notify_x2", 2),) if m6 else (("notify_x1", 1), ("notify_x2", 2))
        for name, processes in notify_runs if s.variants else notify_runs[:-1]:
            got = await _guarded(
                failed, f"SCALEOUT.{name}", lambda p=processes: fanout.main(s.m6_events, s.m6_members, p)
            )
            if got:
                rounds[name].append(got)
    out: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "partitions": 6}
    x1 = (m1 or {}).get("uniform") or (combine(rounds["x1"], "events_per_s") if rounds["x1"] else {})
    for name, key in (("x2", "points_x2"), ("hot_x2", "points_hot_x2")):
        if rounds[name]:
            c = combine(rounds[name], "events_per_s")
            out[key] = c
            for suffix in ("", "_min", "_max"):
                out[f"{key}_events_per_s{suffix}"] = c.get(f"events_per_s{suffix}")
    out["points_x1_events_per_s"] = x1.get("events_per_s")
    if m6:
        for suffix in ("", "_min", "_max"):
            out[f"notify_x1_notifications_per_s{suffix}"] = m6.get(f"notifications_per_s{suffix}")
    for name in ("notify_x1", "notify_x2"):
        if rounds[name]:
            c = combine(rounds[name], "notifications_per_s")
            for suffix in ("", "_min", "_max"):
                out[f"{name}_notifications_per_s{suffix}"] = c.get(f"notifications_per_s{suffix}")
    out["points_x2_over_x1"] = _ratio(out.get("points_x2_events_per_s"), out["points_x1_events_per_s"])
    out["notify_x2_over_x1"] = _ratio(
        out.get("notify_x2_notifications_per_s"), out.get("notify_x1_notifications_per_s")
    )
    # M3 with teeth: a hot row would make two processes wait on each other; one process never does.
    out["m3_hot_over_uniform_x2"] = _ratio(out.get("points_hot_x2_events_per_s"), out.get("points_x2_events_per_s"))
    out["sizing_basis"] = report.sizing_basis(x1, out)
    return out


async def run(
    scale: str, only: tuple[str, ...], m1_rate: float | None = None, repeats: int | None = None
) -> dict[str, Any]:
    """Runs the benchmarks named in `only`, each `repeats` times (the scale's default)."""
    s = SCALES[scale]
    reps = repeats or s.repeats
    failed: dict[str, str] = {}
    raw: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale,
        "repeats": reps,
        "sizes": asdict(s),
    }
    started = time.perf_counter()
    # M2's curve and SCALEOUT's figures build on M1's and M6's: they wait for those to be done.
    done = {"M1": asyncio.Event(), "M6": asyncio.Event()}

    async def m1_and_mix() -> None:
        try:
            if "M1" in only or "MIX" in only:
                raw.update(await run_m1(s, reps, only, failed))
        finally:
            done["M1"].set()

    async def m6() -> None:
        try:
            if "M6" in only:
                got = await run_repeated(
                    "M6", reps, failed, "notifications_per_s", lambda: fanout.main(s.m6_events, s.m6_members)
                )
                if got and s.variants:  # the path a cold start takes: credits parked for their members
                    cold = await _guarded(failed, "M6.cold", lambda: fanout.main(s.m6_events, s.m6_members, cold=True))
                    got["cold"] = cold["notifications_per_s"] if cold else None
                if got:
                    raw["M6"] = got
        finally:
            done["M6"].set()

    async def m2() -> None:
        if "M2" in only:
            await done["M1"].wait()
            await done["M6"].wait()
            # The curve's 100%: what points and notify can each take alone, the lower of the two.
            m1 = (raw.get("M1") or {}).get("uniform", {}).get("events_per_s") or m1_rate
            m6 = (raw.get("M6") or {}).get("notifications_per_s")
            maximum = min(x for x in (m1, m6, s.curve_cap) if x) if (m1 or m6) else None
            got = await run_m2(s, reps, maximum, failed)
            if got:
                raw["M2"] = got

    async def m4() -> None:
        if "M4" in only:
            got = await run_repeated(
                "M4",
                reps,
                failed,
                "drain_over_target",
                lambda: redemptions.main(s.m4_requests, s.m4_units, s.m4_sustained, s.m4_members, s.rtt_samples),
            )
            if got:
                raw["M4"] = got

    async def m5() -> None:
        if "M5" in only:
            got = await run_repeated(
                "M5", reps, failed, "relay_events_per_s", lambda: relay.main(s.m5_rows, s.m5_paced)
            )
            if got:
                raw["M5"] = got

    async def m1_and_m6() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        await done["M1"].wait()
        await done["M6"].wait()
        return raw.get("M1"), raw.get("M6")

    async def scaleout() -> None:
        if "SCALEOUT" in only:
            raw["SCALEOUT"] = await run_scaleout(s, reps, m1_and_m6, failed)

    async def scale_() -> None:
        if "Scale" in only:
            note("[bold]Scale[/]: points read paths over a large ledger")
            got = await _guarded(
                failed,
                "Scale",
                lambda: points_scale.main(s.scale_members, s.scale_days, s.scale_transfers, s.scale_samples),
            )
            if got:
                raw["Scale"] = got

    async def console() -> None:
        if "CONSOLE" in only:  # issue 21: every console page within 300 ms (bench/console_pages.py)
            note("[bold]CONSOLE[/]: the operator console's pages over 100k members, 1M transfers, 50k reports")
            got = await _guarded(
                failed, "CONSOLE", lambda: console_pages.main(*console_pages.SIZES[scale], repeats=reps)
            )
            if got:
                raw["CONSOLE"] = got

    async def areas_() -> None:
        if "AREAS" in only:  # issue 17: placing a report in one of 10,000 areas (bench/areas.py)
            note("[bold]AREAS[/]: area lookups with 10,000 areas")
            got = await _guarded(
                failed, "AREAS", lambda: asyncio.to_thread(areas.main, *areas.SIZES[scale], repeats=reps)
            )
            if got:
                raw["AREAS"] = got

    if not s.side_by_side:  # one at a time, so that no benchmark's figures share the cores with another's
        for work in (m1_and_mix, m6, m2, m4, m5, scaleout, scale_, console, areas_):
            await work()
    else:
        # A smoke run (its figures mean nothing): four lanes side by side (and M1's round at once), each
        # benchmark on its own stack and ports as always, so the harness is checked end to end sooner.
        lanes = ((m1_and_mix,), (scaleout,), (m6, m2), (m4, console, m5, scale_, areas_))
        async with asyncio.TaskGroup() as group:
            for lane in lanes:
                group.create_task(_one_by_one(lane))
    raw["failed"] = failed
    raw["machine"] = machine(_pg_version(raw))
    raw["seconds"] = round(time.perf_counter() - started, 1)
    _strip_machines(raw)
    return raw


async def _one_by_one(works: tuple[Callable[[], Awaitable[None]], ...]) -> None:
    for work in works:
        await work()


def _pg_version(raw: dict[str, Any]) -> str | None:
    for part in raw.values():
        if isinstance(part, dict):
            found = (part.get("machine") or {}).get("postgresql") or part.get("postgresql")
            if found:
                return str(found)
            inner = part.get("uniform") or {}
            if isinstance(inner, dict) and inner.get("postgresql"):
                return str(inner["postgresql"])
    return None


def _strip_machines(node: Any) -> None:
    """One machine description for the whole file."""
    if isinstance(node, dict):
        for key in list(node):
            if key == "machine" and node is not None and "cores" in (node[key] or {}) and "scale" not in node:
                node.pop(key)
            else:
                _strip_machines(node[key])
    elif isinstance(node, list):
        for item in node:
            _strip_machines(item)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("BENCH_SCALE") or "default")
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY") or ",".join(ALL))
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS") or 0) or None)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("BENCH_OUT") or DOCS))
    parser.add_argument("--profile", action="store_true", default=os.environ.get("PROFILE") == "1")
    parser.add_argument(
        "--merge",
        action="store_true",
        default=os.environ.get("BENCH_MERGE") == "1",
        help="keep the other benchmarks' figures of the existing results.json (each keeps its own `when`)",
    )
    args = parser.parse_args()
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(ALL)}")
    saved: dict[str, Any] = {}
    if args.merge and (args.out / "results.json").exists():
        saved = json.loads((args.out / "results.json").read_text())
        saved.pop("metrics", None)
    m1_rate = saved.get("M1", {}).get("uniform", {}).get("events_per_s")
    fresh = lifecycle.run(run(args.scale, only, m1_rate, args.repeats))
    raw = {**saved, **fresh}
    if os.environ.get("BENCH_NOTE"):
        raw["note"] = os.environ["BENCH_NOTE"]
    if saved:
        raw["merged"] = sorted(set(saved) & set(ALL) - set(only))
    if args.profile:
        from bench import profile_points

        note("[bold]Profile[/]: M1 with the points service under py-spy")
        lifecycle.run(profile_points.main(SCALES[args.scale].m1_events, SCALES[args.scale].m1_members, args.out))
    result = report.write(raw, args.out)
    met = [m for m in result["metrics"] if m["met"] is not None]
    note(f"wrote {args.out}/results.json, README.md; targets met {sum(m['met'] for m in met)} of {len(met)}")
    if raw.get("failed"):
        note(f"[bold red]failed[/]: {', '.join(raw['failed'])}")
        sys.exit(1)


if __name__ == "__main__":
    main()
