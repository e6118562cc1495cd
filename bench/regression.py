"""The M1 regression of issue 19, reproduced: PostgreSQL's work per event, cold start vs members known.

Runs M1 (points alone, N verified reports for M members) alternately in the two orders below and
prints, per run, what contention does not distort: PostgreSQL CPU-seconds per 1,000 events,
statements, tuples and WAL bytes per event, how many credits were parked, autovacuum runs.

- `cold`: the harness's order up to f986e8d: registrations and reports both pre-filled, then points
  started; it reads the two topics at once, so how many credits arrive before their member's
  registration (and are parked, then replayed) depends on fetch timing.
- `members_first`: the members projected first, then points stopped, the reports pre-filled and
  points started again: the credit path alone.

With `--seeds=1,2,1,2`, only `cold` runs, each with the points process's PYTHONHASHSEED fixed: the
order in which aiokafka fetches a consumer's partitions is the iteration order of a frozenset of
TopicPartition (str hashes), so the seed decides whether the members partitions are read before the
reports partitions, and with it how many credits are parked. The same seed gives the same figures.

    uv run python -m bench.regression [N] [M] [RUNS]     # default 20000 10000 3 (each order)
    uv run python -m bench.regression [N] [M] --seeds=1,2,3,1
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench import lifecycle, points_ledger
from bench.measure import note

KEYS = (
    "statements_per_event",
    "tuples_written_per_event",
    "wal_bytes_per_event",
    "parked_per_event",
    "commits_per_event",
    "exec_ms_per_1000_events",
)


def row(order: str, run: dict[str, Any]) -> dict[str, Any]:
    work = run["pg_work"]
    return {
        "order": order,
        "events_per_s": run["events_per_s"],
        "pg_cpu_s_per_1000": run["cpu_s_per_1000_events"].get("postgresql"),
        "points_cpu_s_per_1000": run["cpu_s_per_1000_events"].get("points"),
        **{k: work.get(k) for k in KEYS},
        "autovacuum": work.get("autovacuum_during_drain"),
        "top": [(s["query"][:60], s["calls_per_event"], s["ms_per_1000_events"]) for s in work["top_statements"][:5]],
    }


async def seeded(n: int, m: int, seeds: list[str]) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        note(f"regression: cold, PYTHONHASHSEED={seed}")
        result = await points_ledger.one_run(n, m, 50, naive=0, order="cold", service_env={"PYTHONHASHSEED": seed})
        rows.append({"seed": seed, **row("cold", result)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


async def main(n: int, m: int, runs: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(runs):
        for order in ("cold", "members_first"):
            note(f"regression: run {i + 1} of {runs}, {order}")
            result = await points_ledger.one_run(n, m, 50, naive=0, order=order)
            rows.append(row(order, result))
            print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    seeds = next((a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--seeds=")), None)
    numbers = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    n, m, runs = (numbers + [20000, 10000, 3][len(numbers) :])[:3]
    lifecycle.run(seeded(n, m, seeds) if seeds else main(n, m, runs))
