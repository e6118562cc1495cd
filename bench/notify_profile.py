"""Notify consumer, in process: PostgreSQL's work per notification and the rate (noisy), M6's path alone.

Drives the notify service's EventConsumer (its use cases and the kernel) with M member.registered
records, then N points.credited in batches of B, on an embedded PostgreSQL of its own; no broker, so
it isolates the consumer's database path (what `bench.fanout`, M6, runs with Kafka around it). With
--pg, PostgreSQL's work per event as `bench.points_profile --pg` prints it; with --profile, cProfile.

    uv run python -m bench.notify_profile [N] [M] [B] [--pg] [--profile[=tottime]]   # default 5000 2500 500
"""

from __future__ import annotations

import asyncio
import sys

from incentives_kernel import topics
from incentives_kernel.outcome import UseCase
from incentives_ops.demo import member_registered
from notify import subscribers
from notify.metrics import NotifyMetrics
from notify.usecases import Context
from prometheus_client import CollectorRegistry

from bench.fanout import credited
from bench.inprocess import cli, consumer_on_embedded_pg, print_profile, print_work, record, timed


async def run(n: int, m: int, batch: int, profile: str | None, pg_work: bool) -> None:
    def use_cases(registry: CollectorRegistry) -> dict[str, UseCase]:
        return subscribers.use_cases(Context(NotifyMetrics(registry)))

    async with consumer_on_embedded_pg("notify", use_cases, subscribers.IGNORED, pg_work) as it:
        members = [f"nm-{i}" for i in range(m)]
        regs = [record(topics.MEMBERS, i, mid, member_registered(mid, f"d{i % 50}")) for i, mid in enumerate(members)]
        await it.feed(regs, batch)
        events = [record(topics.POINTS, i, members[i % m], credited(members[i % m])) for i in range(n)]
        before = await it.before()
        with timed(profile) as t:
            await it.feed(events, batch)
        async with it.pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM notifications")
            pushed = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topics.NOTIFICATIONS)
        work = await it.work(before, n, ("notify",))
        print(f"{n} points.credited in batches of {batch}: {stored} notifications, {pushed} pushes")
        sent = sum(it.statements.values())
        print(f"{n / t.took:,.0f} notifications/s (noisy); statements sent {sent / n:.2f} per event")
        if work is not None:
            print("PostgreSQL's work per event:")
            print_work(work, top=8, tables=False)
        if profile:
            print_profile(t, profile, 30)


if __name__ == "__main__":
    n, m, b, sort, flags = cli(sys.argv[1:])
    asyncio.run(run(n, m, b, sort, "--pg" in flags))
