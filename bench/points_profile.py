"""Points consumer, in process: round trips to PostgreSQL per event and where the CPU time goes.

Drives the points service's EventConsumer (the same use cases and kernel the service runs) with
M member.registered records, then N report.verified records in batches of B, on an embedded
PostgreSQL of its own; no broker, so it isolates the consumer's database path. Counts every
statement the consumer sends (asyncpg's query logger: an executemany is one) and, with --profile,
prints the top of a cProfile of the credit batches. With --pg, PostgreSQL's own work per event
(`bench/pgwork.py`: pg_stat_statements calls, an executemany counted per row as the server runs it;
tuples inserted / updated / HOT-updated / deleted per table; WAL bytes). With --cold the credits come first (they all
park) and the registrations after (they release them): a cold start that reads topics in that order.
Wall-clock rates here are noisy on a shared machine; statements per event are not.

    uv run python -m bench.points_profile [N] [M] [B] [--profile[=tottime]] [--cold] [--pg]   # default 5000 2500 500
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord
from incentives_kernel import topics
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.engine import EventConsumer
from incentives_kernel.envelope import encode_event
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.health import Health
from incentives_kernel.metrics import KernelMetrics
from incentives_ops.demo import cloud_event, member_registered
from incentives_ops.embedded import EmbeddedPostgres, free_port
from points import subscribers
from points.metrics import PointsMetrics
from points.usecases import Deps
from prometheus_client import CollectorRegistry

from bench import pgwork


def statement(query: str) -> str:
    """A statement's text as counted: one line, savepoints without their generated names."""
    words = query.split()
    if words[0] in ("SAVEPOINT", "RELEASE", "ROLLBACK") and "SAVEPOINT" in words:
        words = words[:-1]
    return " ".join(words)[:90]


def record(topic: str, offset: int, key: str, event: dict[str, Any]) -> ConsumerRecord[Any, Any]:
    value = encode_event(event)
    return ConsumerRecord(topic, 0, offset, 0, 0, key.encode(), value, None, len(key), len(value), [])


class _Stack:
    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg


async def run(n: int, m: int, batch: int, profile: str | None, cold: bool, pg_work: bool) -> None:
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="points-profile-")) / "pgdata", free_port())
    dsn = pg.start()
    try:
        if pg_work:
            await pgwork.enable_statements(_Stack(pg), pg.admin_dsn)
            await pgwork.create_extension(pg.admin_dsn)
        pool = await make_pool(dsn, "points", min_size=1, max_size=1, application_name="points-profile")
        statements: Counter[str] = Counter()
        async with pool.acquire() as conn:
            await migrate(conn, "points", load_migrations(migrations_dir("points")))
            conn.add_query_logger(lambda q: statements.update([statement(q.query)]))
        registry = CollectorRegistry()
        deps = Deps(PointsMetrics(registry), "Asia/Shanghai")
        consumer = EventConsumer(
            service="points",
            pool=lambda: pool,
            metrics=KernelMetrics("points", registry),
            health=Health(),
            use_cases=subscribers.use_cases(deps),
            types=ALL_TYPES,
            ignore_types=subscribers.IGNORED,
        )
        members = [f"pm-{i}" for i in range(m)]
        regs = [record(topics.MEMBERS, i, mid, member_registered(mid, f"d{i % 50}")) for i, mid in enumerate(members)]
        if not cold:
            for i in range(0, len(regs), batch):
                await consumer.handle_batch(regs[i : i + batch])
        now = datetime.now(UTC).isoformat()
        credits = []
        for i in range(n):
            member, report = members[i % m], f"pr-{uuid.uuid4().hex[:12]}"
            data = {
                "report_id": report,
                "member_id": member,
                "category": "sanitation",
                "district": "x",
                "status": "accepted",
                "verified_at": now,
            }
            event = cloud_event("/incentives/reports", "report.verified", report, data)
            credits.append(record(topics.REPORTS_LIFECYCLE, i, member, event))
        statements.clear()
        before = await _snapshot(pg.admin_dsn) if pg_work else None
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for i in range(0, n, batch):
            await consumer.handle_batch(credits[i : i + batch])
        if cold:  # the credits all parked: the registrations release them
            for i in range(0, len(regs), batch):
                await consumer.handle_batch(regs[i : i + batch])
        if profiler:
            profiler.disable()
        took = time.perf_counter() - started
        async with pool.acquire() as conn:
            transfers = await conn.fetchval("SELECT count(*) FROM transfers")
        await pool.close()  # its backend exits and flushes its statistics
        work = None
        if before is not None:
            await asyncio.sleep(0.5)
            events = n + (m if cold else 0)
            work = pgwork.work(before, await _snapshot(pg.admin_dsn), events)
        total = sum(statements.values())
        what = f"{n} credits{' parked, then released by ' + str(m) + ' registrations' if cold else ''}"
        print(f"{what}, in batches of {batch}: {transfers} transfers, {n / took:,.0f} credits/s (noisy)")
        print(f"statements sent: {total} = {total / n:.2f} per event")
        for query, count in statements.most_common(25):
            print(f"  {count:>7}  {count / n:6.2f}/event  {query}")
        if work is not None:
            print(f"PostgreSQL's work per event ({n + (m if cold else 0)} events, registrations included):")
            print("  " + json.dumps(work.per_event))
            for table, per in sorted(work.tables.items()):
                print(f"  {table:32} {json.dumps(per)}")
            for st in work.top_statements[:10]:
                calls, ms = st["calls_per_event"], st["ms_per_1000_events"]
                print(f"  {calls:7.3f} calls/event {ms:7.1f} ms/1000  {st['query'][:90]}")
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(profile).print_stats(40)
            print(out.getvalue())
    finally:
        pg.remove()


async def _snapshot(dsn: str) -> pgwork.Snapshot:
    conn = await asyncpg.connect(dsn)
    try:
        return await pgwork.snapshot(conn)
    finally:
        await conn.close()


if __name__ == "__main__":
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    args = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    n, m, b = (args + [5000, 2500, 500][len(args) :])[:3]
    # --profile sorts by cumulative time; --profile=tottime by time spent in the function itself.
    sort = next((f.partition("=")[2] or "cumulative" for f in flags if f.startswith("--profile")), None)
    asyncio.run(run(n, m, b, sort, "--cold" in flags, "--pg" in flags))
