"""M1 and M3: sustained events/s from Kafka to committed ledger transfers, beside same-run anchors.

Pre-fills incentives.reports.lifecycle.v1 with N report.verified events for M registered members,
then starts only the points service and measures the drain from its first committed transfer to the
last. Beside it, in the same run: a raw aiokafka drain of the same topic, a COPY of N rows shaped
like transfers into PostgreSQL (the two ceilings), and a naive consumer doing one transaction per
event (at most `naive` events of the same topic). The CPU each process spends during the drain is
metered (per 1,000 events) and the points service's peak RSS read. Twice: members spread over 50
districts (uniform) and all in one district (every credit drawn from one issuance account).

    uv run python -m bench.points_ledger [N] [M]     # default 20000 events, 10000 members
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import cloud_event, member_registered
from incentives_ops.provision import _with
from incentives_ops.stack import Stack
from incentives_ops.topics_admin import create_topics

from bench.anchors import bench_stack, naive_consumer_seconds, producer, raw_drain_seconds, stop_stack
from bench.measure import CpuMeter, machine, note, peak_rss_mb, stack_pids, step

RESULTS = Path(__file__).parent / "results" / "points_ledger.json"


def verified(member: str, report: str | None = None) -> dict[str, object]:
    report = report or f"br-{uuid.uuid4().hex[:12]}"
    data = {
        "report_id": report,
        "member_id": member,
        "category": "sanitation",
        "district": "x",
        "status": "accepted",
        "verified_at": datetime.now(UTC).isoformat(),
    }
    return cloud_event("/incentives/reports", "report.verified", report, data)


async def register(bootstrap: str, members: list[str], districts: int) -> None:
    p = producer(bootstrap, linger_ms=5)
    await p.start()
    try:
        acks = [
            await p.send(topics.MEMBERS, encode_event(member_registered(mid, f"d{i % districts}")), key=mid.encode())
            for i, mid in enumerate(members)
        ]
        await asyncio.gather(*acks)
    finally:
        await p.stop()


async def prefill(bootstrap: str, n: int, m: int, districts: int) -> None:
    members = [f"bm-{i}" for i in range(m)]
    await register(bootstrap, members, districts)
    p = producer(bootstrap, linger_ms=5)
    await p.start()
    try:
        acks = []
        for i in range(n):
            member = members[i % m]
            acks.append(await p.send(topics.REPORTS_LIFECYCLE, encode_event(verified(member)), key=member.encode()))
        await asyncio.gather(*acks)
    finally:
        await p.stop()


async def copy_rows(dsn: str, n: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("""CREATE TEMP TABLE copy_anchor (transfer_id text, debit_account text,
            credit_account text, amount bigint, kind text, member_id text, reason text, occurred_at timestamptz)""")
        now = datetime.now(UTC)
        rows = [
            (f"t{i}", "issuance:d0", f"member:bm-{i}", 5, "report", f"bm-{i}", "report verified", now) for i in range(n)
        ]
        started = time.perf_counter()
        await conn.copy_records_to_table("copy_anchor", records=rows)
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


async def wait_count(conn: asyncpg.Connection, sql: str, n: int, label: str, *args: object) -> tuple[int, float, float]:
    """Polls `sql` (a count) until it reaches n: (first non-zero value, when it was seen, when n was)."""
    while (first := await conn.fetchval(sql, *args)) == 0:
        await asyncio.sleep(0.05)
    t0, done = time.perf_counter(), first
    with step(label, n) as bar:
        while done < n:
            await asyncio.sleep(0.1)
            done = await conn.fetchval(sql, *args)
            bar.update(done)
    return first, t0, time.perf_counter()


async def one_run(
    n: int, m: int, districts: int, naive: int = 3000, start_points: Callable[[Stack], object] | None = None
) -> dict[str, object]:
    """One M1 run; `start_points` starts the points service another way (under a profiler)."""
    stack = bench_stack()
    try:
        admin, bootstrap = await stack.start_infra()
        await create_topics(bootstrap)
        note(f"M1: pre-filling {m} members and {n} verified reports over {districts} district(s)")
        await prefill(bootstrap, n, m, districts)
        raw = n / await raw_drain_seconds(bootstrap, [topics.REPORTS_LIFECYCLE], n)
        stack.opt.database_url, stack.opt.bootstrap = admin, bootstrap
        info = await stack.start(only=())
        db = _with(info.admin_dsn, database=stack.opt.database)
        copy = await copy_rows(db, n)
        naive_n, naive_s = await naive_consumer_seconds(bootstrap, topics.REPORTS_LIFECYCLE, db, min(naive, n))
        (start_points or (lambda s: s.start_service("points")))(stack)
        meter = CpuMeter(stack_pids(stack))
        conn = await asyncpg.connect(db)
        try:
            while not await conn.fetchval("SELECT to_regclass('points.transfers') IS NOT NULL"):
                await asyncio.sleep(0.1)
            meter.start()
            count = "SELECT count(*) FROM points.transfers"
            first, t0, t1 = await wait_count(conn, count, n, f"M1 ledger ({districts} district(s))")
            meter.stop()
            pg_version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        rss = peak_rss_mb(stack.procs["points"].pid)
    finally:
        await stop_stack(stack)
    # From the first committed transfer to the last; undefined when one batch committed them all.
    rate = round((n - first) / (t1 - t0)) if first < n else None
    return {
        "events": n,
        "events_per_s": rate,
        "raw_drain_msgs_per_s": round(raw),
        "copy_rows_per_s": round(copy),
        "naive_events_per_s": round(naive_n / naive_s) if naive_s else None,
        "points_peak_rss_mb": rss,
        "cpu_s_per_1000_events": meter.per_1000(n),
        "postgresql": pg_version,
    }


def ratio(a: object, b: object) -> float | None:
    return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and a and b else None


async def main(n: int = 20000, m: int = 10000, naive: int = 3000) -> dict[str, object]:
    uniform = await one_run(n, m, districts=50, naive=naive)
    hot = await one_run(n, m, districts=1, naive=naive)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(str(uniform["postgresql"])),
        "events": n,
        "members": m,
        "uniform": uniform,
        "hot_issuance_account": hot,
        "ratio_to_raw_drain": ratio(uniform["events_per_s"], uniform["raw_drain_msgs_per_s"]),
        "ratio_to_copy": ratio(uniform["events_per_s"], uniform["copy_rows_per_s"]),
        "ratio_to_naive": ratio(uniform["events_per_s"], uniform["naive_events_per_s"]),
        "hot_over_uniform": ratio(hot["events_per_s"], uniform["events_per_s"]),
        "target_events_per_s": 10000,
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    result = asyncio.run(main(*args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
