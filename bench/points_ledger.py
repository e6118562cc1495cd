"""Points: sustained events/s from Kafka to committed ledger transfers, beside same-run anchors.

Pre-fills incentives.reports.lifecycle.v1 with N report.verified events for M registered members,
then starts only the points service and measures the drain from its first committed transfer to the
last. Beside it, in the same run: a raw aiokafka drain of the same topic, and a COPY of N rows shaped
like transfers into PostgreSQL (the two ceilings). Twice: members spread over 50 districts (uniform)
and all in one district (every credit drawn from one issuance account).

    uv run python bench/points_ledger.py [N] [M]     # default 20000 events, 10000 members
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import cloud_event, member_registered
from incentives_ops.provision import _with

sys.path.insert(0, str(Path(__file__).parent))
from anchors import bench_stack, raw_drain_seconds

RESULTS = Path(__file__).parent / "results" / "points_ledger.json"


def progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    end = "" if sys.stdout.isatty() else "\n"
    print(f"\r  {label}: {done:>7}/{total} ({rate:,.0f}/s)", end=end, flush=True)


async def prefill(bootstrap: str, n: int, m: int, districts: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        members = [f"bm-{i}" for i in range(m)]
        acks = [
            await producer.send(
                topics.MEMBERS, encode_event(member_registered(mid, f"d{i % districts}")), key=mid.encode()
            )
            for i, mid in enumerate(members)
        ]
        now = datetime.now(UTC).isoformat()
        for i in range(n):
            member = members[i % m]
            report = f"br-{uuid.uuid4().hex[:12]}"
            event = cloud_event(
                "/incentives/reports",
                "report.verified",
                report,
                {
                    "report_id": report,
                    "member_id": member,
                    "category": "sanitation",
                    "district": "x",
                    "status": "accepted",
                    "verified_at": now,
                },
            )
            acks.append(await producer.send(topics.REPORTS_LIFECYCLE, encode_event(event), key=member.encode()))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


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


async def one_run(n: int, m: int, districts: int) -> dict[str, float | None]:
    stack = bench_stack()
    try:
        admin, bootstrap = await stack.start_infra()
        from incentives_ops.topics_admin import create_topics

        await create_topics(bootstrap)
        print(f"pre-filling {m} members and {n} verified reports over {districts} district(s) ...")
        await prefill(bootstrap, n, m, districts)
        raw = n / await raw_drain_seconds(bootstrap, [topics.REPORTS_LIFECYCLE], n)
        stack.opt.database_url, stack.opt.bootstrap = admin, bootstrap
        info = await stack.start(only=("points",))
        db = _with(info.admin_dsn, database=stack.opt.database)
        copy = await copy_rows(db, n)
        conn = await asyncpg.connect(db)
        try:
            while not await conn.fetchval("SELECT to_regclass('points.transfers') IS NOT NULL"):
                await asyncio.sleep(0.1)
            while (first := await conn.fetchval("SELECT count(*) FROM points.transfers")) == 0:
                await asyncio.sleep(0.05)
            t0, start_count = time.perf_counter(), first
            cpu0 = _cpu_seconds(stack.procs["points"].pid)
            done = first
            last_shown = 0.0
            while done < n:
                await asyncio.sleep(0.25)
                done = await conn.fetchval("SELECT count(*) FROM points.transfers")
                if sys.stdout.isatty() or time.perf_counter() - last_shown > 5:
                    progress("ledger", done, n, t0)
                    last_shown = time.perf_counter()
            took = time.perf_counter() - t0
            cpu = _cpu_seconds(stack.procs["points"].pid) - cpu0
            print()
        finally:
            await conn.close()
        rss = _peak_rss_mb(stack.procs["points"].pid)
    finally:
        await asyncio.to_thread(stack.stop)
    # From the first committed transfer to the last; undefined when one batch committed them all.
    rate = round((n - start_count) / took) if start_count < n else None
    return {
        "events_per_s": rate,
        "raw_drain_msgs_per_s": round(raw),
        "copy_rows_per_s": round(copy),
        "points_peak_rss_mb": rss,
        # CPU the points process spent per event over the same window: unlike events/s, it hardly
        # moves when other processes share the cores.
        "points_cpu_us_per_event": round(cpu / (n - start_count) * 1e6) if start_count < n else None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


async def main(n: int, m: int) -> dict[str, object]:
    uniform = await one_run(n, m, districts=50)
    hot = await one_run(n, m, districts=1)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "events": n,
        "members": m,
        "uniform": uniform,
        "hot_issuance_account": hot,
        "ratio_to_raw_drain": _ratio(uniform["events_per_s"], uniform["raw_drain_msgs_per_s"]),
        "ratio_to_copy": _ratio(uniform["events_per_s"], uniform["copy_rows_per_s"]),
        "hot_over_uniform": _ratio(hot["events_per_s"], uniform["events_per_s"]),
        "target_events_per_s": 10000,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    result = asyncio.run(main(n, m))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
