"""Every benchmark in one run: results.json, README.md (the table) and PNG plots under docs/benchmarks/.

    uv run python -m bench [--scale default|smoke] [--only M1,M2,M4,M5,M6,Scale] [--out DIR] [--profile] [--merge]

The environment may say the same: BENCH_SCALE, BENCH_ONLY, BENCH_OUT, PROFILE=1, and BENCH_MERGE=1 (keep
the other benchmarks' figures of the existing results.json); BENCH_NOTE adds a line on the conditions
to the README. `smoke` is a tiny run that checks the harness end to end (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fanout, latency, points_ledger, points_scale, redemptions, relay, report
from bench.measure import machine, note

ALL = ("M1", "M2", "M4", "M5", "M6", "Scale")  # M3 is part of M1's run
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


@dataclass(frozen=True)
class Sizes:
    m1_events: int
    m1_members: int
    naive_events: int
    m2_seconds: float
    m4_requests: int
    m4_units: int
    m4_sustained: int
    m4_members: int
    m5_rows: int
    m5_paced: int
    m6_events: int
    m6_members: int
    scale_members: int
    scale_days: int
    scale_transfers: int


SCALES = {
    # About 10-15 minutes on 2 idle cores (the 10M-transfer ledger takes the longest to build).
    "default": Sizes(
        20_000, 10_000, 3_000, 20, 1_000, 10, 2_000, 200, 20_000, 2_000, 10_000, 5_000, 100_000, 30, 10_000_000
    ),
    "smoke": Sizes(200, 50, 100, 3, 30, 3, 20, 10, 500, 100, 200, 50, 1_000, 2, 20_000),
}


async def run(scale: str, only: tuple[str, ...], m1_rate: float | None = None) -> dict[str, Any]:
    """Runs the benchmarks named in `only`; M2's rate is half of M1's (this run's, else `m1_rate`)."""
    s = SCALES[scale]
    raw: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "scale": scale, "sizes": asdict(s)}
    started = time.perf_counter()
    if "M1" in only:
        note("[bold]M1 + M3[/]: points ledger, uniform then one issuance account")
        raw["M1"] = await points_ledger.main(s.m1_events, s.m1_members, s.naive_events)
    if "M2" in only:
        m1_rate = (raw.get("M1") or {}).get("uniform", {}).get("events_per_s") or m1_rate
        # Half of M1's measured rate; a smoke run (M1 in one batch: no rate) uses a token 50/s.
        rate = max(10.0, m1_rate / 2) if m1_rate else 50.0
        note(f"[bold]M2[/]: open-loop latency at {rate:.0f} events/s")
        raw["M2"] = await latency.main(rate, s.m2_seconds)
    if "M4" in only:
        note("[bold]M4[/]: redemptions under contention")
        raw["M4"] = await redemptions.main(s.m4_requests, s.m4_units, s.m4_sustained, s.m4_members)
    if "M5" in only:
        note("[bold]M5[/]: outbox relay")
        raw["M5"] = await relay.main(s.m5_rows, s.m5_paced)
    if "M6" in only:
        note("[bold]M6[/]: notification fan-out")
        raw["M6"] = await fanout.main(s.m6_events, s.m6_members)
    if "Scale" in only:
        note("[bold]Scale[/]: points read paths over a large ledger")
        raw["Scale"] = await points_scale.main(s.scale_members, s.scale_days, s.scale_transfers)
    parts = [r for r in raw.values() if isinstance(r, dict)]
    pg = next((r["machine"].get("postgresql") for r in parts if r.get("machine", {}).get("postgresql")), None)
    raw["machine"] = machine(pg)
    raw["seconds"] = round(time.perf_counter() - started, 1)
    for part in raw.values():  # one machine description for the whole file
        if isinstance(part, dict):
            part.pop("machine", None)
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("BENCH_SCALE") or "default")
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY") or ",".join(ALL))
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
    parser_note = os.environ.get("BENCH_NOTE")
    saved: dict[str, Any] = {}
    if args.merge and (args.out / "results.json").exists():
        saved = json.loads((args.out / "results.json").read_text())
        saved.pop("metrics", None)
    m1_rate = saved.get("M1", {}).get("uniform", {}).get("events_per_s")
    raw = {**saved, **asyncio.run(run(args.scale, only, m1_rate))}
    if parser_note:
        raw["note"] = parser_note
    if saved:
        raw["merged"] = sorted(set(saved) & set(ALL) - set(only))
    if args.profile:
        from bench import profile_points

        note("[bold]Profile[/]: M1 with the points service under py-spy")
        asyncio.run(profile_points.main(SCALES[args.scale].m1_events, SCALES[args.scale].m1_members, args.out))
    result = report.write(raw, args.out)
    met = [m for m in result["metrics"] if m["met"] is not None]
    note(f"wrote {args.out}/results.json, README.md; targets met {sum(m['met'] for m in met)} of {len(met)}")


if __name__ == "__main__":
    main()
