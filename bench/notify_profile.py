"""Notify consumer, in process: PostgreSQL's work per notification and the rate (noisy), M6's path alone.

Drives the notify service's EventConsumer (its use cases and the kernel) with M member.registered
records, then N points.credited in batches of B, on an embedded PostgreSQL of its own; no broker, so
it isolates the consumer's database path (what `bench.fanout`, M6, runs with Kafka around it). With
--pg, PostgreSQL's work per event as `bench.points_profile --pg` prints it; with --profile, cProfile.

    uv run python -m bench.notify_profile [N] [M] [B] [--pg] [--profile[=tottime]]   # default 5000 2500 500
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
from collections import Counter
from pathlib import Path

from incentives_kernel import topics
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.engine import EventConsumer
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.health import Health
from incentives_kernel.metrics import KernelMetrics
from incentives_ops.demo import member_registered
from incentives_ops.embedded import EmbeddedPostgres, free_port
from notify import subscribers
from notify.metrics import NotifyMetrics
from notify.usecases import Context
from prometheus_client import CollectorRegistry

from bench import pgwork
from bench.fanout import credited
from bench.points_profile import _snapshot, _Stack, record, statement


async def run(n: int, m: int, batch: int, profile: str | None, pg_work: bool) -> None:
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="notify-profile-")) / "pgdata", free_port())
    dsn = pg.start()
    try:
        if pg_work:
            await pgwork.enable_statements(_Stack(pg), pg.admin_dsn)
            await pgwork.create_extension(pg.admin_dsn)
        pool = await make_pool(dsn, "notify", min_size=1, max_size=1, application_name="notify-profile")
        statements: Counter[str] = Counter()
        async with pool.acquire() as conn:
            await migrate(conn, "notify", load_migrations(migrations_dir("notify")))
            conn.add_query_logger(lambda q: statements.update([statement(q.query)]))
        registry = CollectorRegistry()
        consumer = EventConsumer(
            service="notify",
            pool=lambda: pool,
            metrics=KernelMetrics("notify", registry),
            health=Health(),
            use_cases=subscribers.use_cases(Context(NotifyMetrics(registry))),
            types=ALL_TYPES,
            ignore_types=subscribers.IGNORED,
        )
        members = [f"nm-{i}" for i in range(m)]
        regs = [record(topics.MEMBERS, i, mid, member_registered(mid, f"d{i % 50}")) for i, mid in enumerate(members)]
        for i in range(0, len(regs), batch):
            await consumer.handle_batch(regs[i : i + batch])
        events = [record(topics.POINTS, i, members[i % m], credited(members[i % m])) for i in range(n)]
        statements.clear()
        before = await _snapshot(pg.admin_dsn) if pg_work else None
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for i in range(0, n, batch):
            await consumer.handle_batch(events[i : i + batch])
        if profiler:
            profiler.disable()
        took = time.perf_counter() - started
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM notifications")
            pushed = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topics.NOTIFICATIONS)
        await pool.close()  # its backend exits and flushes its statistics
        print(f"{n} points.credited in batches of {batch}: {stored} notifications, {pushed} pushes")
        print(f"{n / took:,.0f} notifications/s (noisy); statements sent {sum(statements.values()) / n:.2f} per event")
        if before is not None:
            await asyncio.sleep(0.5)
            work = pgwork.work(before, await _snapshot(pg.admin_dsn), n, schemas=("notify",))
            print("PostgreSQL's work per event:")
            print("  " + json.dumps(work.per_event))
            for st in work.top_statements[:8]:
                calls, ms = st["calls_per_event"], st["ms_per_1000_events"]
                print(f"  {calls:7.3f} calls/event {ms:7.1f} ms/1000  {st['query'][:90]}")
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(profile).print_stats(30)
            print(out.getvalue())
    finally:
        pg.remove()


if __name__ == "__main__":
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    args = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    n, m, b = (args + [5000, 2500, 500][len(args) :])[:3]
    sort = next((f.partition("=")[2] or "cumulative" for f in flags if f.startswith("--profile")), None)
    asyncio.run(run(n, m, b, sort, "--pg" in flags))
