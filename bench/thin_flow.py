"""How fast the thin flow drains: N riders each with one report accepted -> N credits -> N notifications.

Starts the embedded stack as `make run` does (no demo traffic), waits until the services are ready,
then publishes 3 x N events as fast as it can and times how long until every report is accepted,
every credit is in the ledger and every notification in the inbox. Beside it, in the same run: the
rate at which a raw aiokafka consumer drains the same records (the broker's ceiling here).

    uv run python -m bench.thin_flow [N]       # default N = 2000; writes bench/results/thin_flow.json
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import member_registered, report_submitted, status_changed
from incentives_ops.provision import _with

from bench.anchors import bench_stack, raw_drain_seconds, stop_stack

RESULTS = Path(__file__).parent / "results" / "thin_flow.json"


async def prefill(bootstrap: str, n: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        sends = []
        for i in range(n):
            member, report = f"bench-m-{i}", f"bench-r-{i}"
            sends.append(
                await producer.send(
                    topics.MEMBERS, encode_event(member_registered(member, "nanqu")), key=member.encode()
                )
            )
            sends.append(
                await producer.send(
                    topics.REPORTS,
                    encode_event(report_submitted(report, member, "nanqu", "sanitation")),
                    key=report.encode(),
                )
            )
            sends.append(
                await producer.send(
                    topics.REPORTS,
                    encode_event(status_changed(report, "nanqu", "accepted", "环卫")),
                    key=report.encode(),
                )
            )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def wait_for(conn: asyncpg.Connection, n: int, started: float) -> dict[str, float]:
    marks: dict[str, float] = {}
    queries = {
        "reports": "SELECT count(*) FROM reports.reports WHERE status = 'accepted'",
        "credits": "SELECT count(*) FROM points.transfers WHERE kind = 'report'",
        "notifications": "SELECT count(*) FROM notify.notifications WHERE kind = 'points_credited'",
    }
    while len(marks) < len(queries):
        for name, sql in queries.items():
            if name not in marks and await conn.fetchval(sql) >= n:
                marks[name] = time.perf_counter() - started
        done = {k: round(v, 2) for k, v in marks.items()}
        print(f"\r  {time.perf_counter() - started:6.1f} s  done: {done}", end="", flush=True)
        await asyncio.sleep(0.2)
    print()
    return marks


async def main(n: int) -> dict[str, object]:
    stack = bench_stack()
    try:
        info = await stack.start()
        await stack.wait_ready(timeout=120)
        conn = await asyncpg.connect(_with(info.admin_dsn, database=stack.opt.database))
        try:
            print(f"publishing {n} riders x 3 events ...")
            started = time.perf_counter()
            produce_s = await prefill(info.bootstrap, n)
            marks = await wait_for(conn, n, started)
        finally:
            await conn.close()
        raw_s = await raw_drain_seconds(info.bootstrap, [topics.MEMBERS, topics.REPORTS], 3 * n)
        print(f"  produce {3 * n / produce_s:,.0f} msg/s, raw aiokafka drain {3 * n / raw_s:,.0f} msg/s")
    finally:
        await stop_stack(stack)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "riders": n,
        "inbound_events": 3 * n,
        "anchor_produce_msgs_per_s": round(3 * n / produce_s),
        "anchor_raw_drain_msgs_per_s": round(3 * n / raw_s),
        "seconds_from_first_publish": {k: round(v, 2) for k, v in marks.items()},
        "inbound_events_per_s_to_notifications": round(3 * n / marks["notifications"]),
        "ratio_to_raw_drain": round((3 * n / marks["notifications"]) / (3 * n / raw_s), 3),
        "note": "services ready before the first publish; one transaction per batch with per-event statements",
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    result = asyncio.run(main(count))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
