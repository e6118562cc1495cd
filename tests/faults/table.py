"""Print the fault suite's latest results as the Markdown table of docs/reliability.md.

uv run python -m tests.faults.table [results.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.faults.harness import RESULTS


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| fault | events sent | lost | duplicated effects | time to recover (s) | invariants checked (failed) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fault']} | {r['events_sent']} | {r['lost']} | {r['duplicated_effects']} | {r['recover_s']} "
            f"| {r['invariants_checked']} ({r['invariants_failed']}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(table(json.loads(path.read_text())))
