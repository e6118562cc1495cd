"""The M1 regression of issue 19, reproduced: PostgreSQL's work per event, cold start vs members known.

Runs M1 (points alone, N verified reports for M members) alternately in the two orders below and
prints, per run, what contention does not distort: PostgreSQL CPU-seconds per 1,000 events,
statements, tuples and WAL bytes per event, how many credits were parked, autovacuum runs.

- `cold`: the harness's order up to f986e8d: registrations and reports both pre-filled, then points
  started; it reads the two topics at once, so how many credits arrive before their member's
  registration (and are parked, then replayed) depends on fetch timing.
- `members_first`: the members projected first, then points stopped, the reports pre-filled and
  points started again: the credit path alone.

    uv run python -m bench.regression [N] [M] [RUNS]     # default 20000 10000 3 (each order)
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
    n, m, runs = ([int(a) for a in sys.argv[1:4]] + [20000, 10000, 3][len(sys.argv[1:4]) :])[:3]
    lifecycle.run(main(n, m, runs))
