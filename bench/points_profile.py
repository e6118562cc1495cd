"""Points consumer, in process: round trips to PostgreSQL per event and where the CPU time goes.

Drives the points service's EventConsumer (the same use cases and kernel the service runs) with
M member.registered records, then N report.verified records in batches of B, on an embedded
PostgreSQL of its own; no broker, so it isolates the consumer's database path. Counts every
statement the consumer sends (asyncpg's query logger: an executemany is one) and, with --profile,
prints the top of a cProfile of the credit batches. With --pg, PostgreSQL's own work per event
(`bench/pgwork.py`: pg_stat_statements calls, an executemany counted per row as the server runs it;
tuples inserted / updated / HOT-updated / deleted per table; WAL bytes). With --cold the credits come first (they all
park) and the registrations after (they release them): a cold start that reads topics in that order.
With --mix the N records are issue 19's MIX stream (`bench/workload.py`'s `mix`: duplicates, reversals,
cap and level crossings, poison), checked afterwards against the ledger they must leave.
Wall-clock rates here are noisy on a shared machine; statements per event are not.

    uv run python -m bench.points_profile [N] [M] [B] [--profile[=tottime]] [--cold] [--mix] [--pg]
    # N M B default to 5000 2500 500
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord
from incentives_kernel import topics
from incentives_kernel.outcome import UseCase
from incentives_ops.demo import cloud_event, member_registered
from points import subscribers
from points.metrics import PointsMetrics
from points.usecases import Deps
from prometheus_client import CollectorRegistry

from bench import workload
from bench.inprocess import cli, consumer_on_embedded_pg, print_profile, print_work, record, timed


def consumer_records(records: list[workload.Record]) -> list[ConsumerRecord[bytes, bytes]]:
    """The workload's (topic, key, value) records as consumed ones, at increasing offsets."""
    return [ConsumerRecord(t, 0, i, 0, 0, k, v, None, len(k), len(v), []) for i, (t, k, v) in enumerate(records)]


async def run(n: int, m: int, batch: int, profile: str | None, cold: bool, mix: bool, pg_work: bool) -> None:
    def use_cases(registry: CollectorRegistry) -> dict[str, UseCase]:
        return subscribers.use_cases(Deps(PointsMetrics(registry), "Asia/Shanghai"))

    async with consumer_on_embedded_pg("points", use_cases, subscribers.IGNORED, pg_work) as it:
        members = workload.member_ids(m) if mix else [f"pm-{i}" for i in range(m)]
        if mix:
            regs = consumer_records(workload.registrations(members, 50))
        else:
            regs = [
                record(topics.MEMBERS, i, mid, member_registered(mid, f"d{i % 50}")) for i, mid in enumerate(members)
            ]
        if not cold:
            await it.feed(regs, batch)
        now = datetime.now(UTC).isoformat()
        credits = []
        expected: workload.Expected | None = None
        if mix:
            stream, expected = workload.mix(n, m)
            credits = consumer_records(stream)
            n = len(credits)
        for i in range(0 if mix else n):
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
        before = await it.before()
        with timed(profile) as t:
            await it.feed(credits, batch)
            if cold:  # the credits all parked: the registrations release them
                await it.feed(regs, batch)
        async with it.pool.acquire() as conn:
            transfers = await conn.fetchval("SELECT count(*) FROM transfers")
            problems = await workload.check(conn, expected) if expected is not None else []
        work = await it.work(before, n + (m if cold else 0), ("points",))
        total = sum(it.statements.values())
        what = f"{n} {'MIX records' if mix else 'credits'}"
        what += f"{' parked, then released by ' + str(m) + ' registrations' if cold else ''}"
        if expected is not None:
            e = expected
            print(
                f"MIX: {e.reports} reports, {e.duplicates} duplicates, {e.reversals} reversals, {e.poison} poison, "
                f"{e.capped_reports} cut by the cap, {e.members_first_star} members at a star"
            )
            print("MIX check: " + ("the ledger is as expected" if not problems else "; ".join(problems)))
        print(f"{what}, in batches of {batch}: {transfers} transfers, {n / t.took:,.0f} credits/s (noisy)")
        print(f"statements sent: {total} = {total / n:.2f} per event")
        for query, count in it.statements.most_common(25):
            print(f"  {count:>7}  {count / n:6.2f}/event  {query}")
        if work is not None:
            setup = "registrations included" if cold else "the registrations before not counted"
            print(f"PostgreSQL's work per event ({n + (m if cold else 0)} events, {setup}):")
            print_work(work, top=10, tables=True)
        if profile:
            print_profile(t, profile, 40)


if __name__ == "__main__":
    n, m, b, sort, flags = cli(sys.argv[1:])
    asyncio.run(run(n, m, b, sort, "--cold" in flags, "--mix" in flags, "--pg" in flags))
