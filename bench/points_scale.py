"""Scale: the points read paths over a 10M-transfer ledger of 100k members.

Fills the points schema (its real migrations) of an embedded PostgreSQL: T transfers over M members
(generated inside PostgreSQL, in chunks of 1M rows, members interleaved as they are in time, so a
member's transfers are spread over the table as they would be), the members and their balances, and
D earning days each in the last year (earned_by_day and the per-period totals, by COPY). Then it
times, with the API's own SQL (points.repository, points.levels), p50/p95/p99 of:
- a balance, as GET /members/{id}/balance reads it (member, posted balance, trailing-365-day figure);
- a ledger page of 50, as GET /members/{id}/ledger reads it (keyset on seq): the first page and a
  page from a cursor somewhere in the middle of the ledger;
- the leaderboard top 100 per period (city and one district).

    uv run python -m bench.points_scale [M] [D] [T]   # default 100000 members, 30 days, 10000000 transfers
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from incentives_kernel import members as kernel_members
from incentives_kernel import standing
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_ops.embedded import EmbeddedPostgres, free_port
from incentives_ops.provision import _with
from points import levels, policy
from points import repository as repo

from bench.measure import machine, note, percentiles, step

RESULTS = Path(__file__).parent / "results" / "points_scale.json"
CHUNK = 1_000_000
PAGE = 50


async def fill_earnings(conn: asyncpg.Connection, members: int, days: int) -> None:
    today = date.today()
    rnd = random.Random(7)
    by_day: dict[tuple[str, date], int] = {}
    totals: dict[tuple[str, date, str], tuple[str, int]] = {}
    for i in range(members):
        member, district = f"m{i}", f"d{i % 20}"
        for _ in range(days):
            day = today - timedelta(days=rnd.randrange(365))
            earned = rnd.choice((3, 5, 6, 8, 10, 25))
            by_day[(member, day)] = by_day.get((member, day), 0) + earned
            for period, start in policy.period_starts(day).items():
                key = (period, start, member)
                totals[key] = (district, totals.get(key, (district, 0))[1] + earned)
    await conn.copy_records_to_table(
        "earned_by_day", schema_name="points", records=[(m, d, e) for (m, d), e in by_day.items()]
    )
    await conn.copy_records_to_table(
        "period_totals",
        schema_name="points",
        records=[(p, s, m, district, e) for (p, s, m), (district, e) in totals.items()],
    )


async def fill_ledger(conn: asyncpg.Connection, members: int, transfers: int) -> None:
    """Members, their balances and `transfers` credits (5 points each, over the last year)."""
    await conn.execute(
        """INSERT INTO points.members (member_id, district, occupation, registered_at, as_of)
           SELECT 'm' || i, 'd' || (i % 20), 'courier', now() - interval '2 years', now()
           FROM generate_series(0, $1 - 1) AS i""",
        members,
    )
    with step("Scale: ledger rows", transfers) as bar:
        for low in range(0, transfers, CHUNK):
            high = min(transfers, low + CHUNK)
            await conn.execute(
                """INSERT INTO points.transfers (transfer_id, debit_account, credit_account, amount, kind, member_id,
                                                 rule_version, reason, source, source_event_id, occurred_at)
                   SELECT 'st-' || i, 'issuance:d' || (i % $3 % 20), 'member:m' || (i % $3), 5, 'report',
                          'm' || (i % $3), 'bench', 'report verified', '/incentives/reports', 'e-' || i,
                          now() - make_interval(secs => ($4 - i) * 3.0)
                   FROM generate_series($1::bigint, $2::bigint - 1) AS i""",
                low,
                high,
                members,
                transfers,
            )
            bar.update(high)
    await conn.execute(
        """INSERT INTO points.member_balances (member_id, credits)
           SELECT member_id, sum(amount) FROM points.transfers GROUP BY member_id"""
    )


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return samples


async def main(
    members: int = 100_000, days: int = 30, transfers: int = 10_000_000, samples: int = 1000
) -> dict[str, object]:
    """Fills the ledger, then times `samples` queries per read path (three tenths of it per leaderboard)."""
    state = Path(tempfile.mkdtemp(prefix="incentives-scale-"))
    pg = EmbeddedPostgres(state / "pgdata", free_port())
    admin = pg.start()
    try:
        conn = await asyncpg.connect(admin)
        await conn.execute("CREATE DATABASE scale")
        await conn.close()
        dsn = _with(admin, database="scale")
        conn = await asyncpg.connect(dsn)
        await migrate(conn, "points", load_migrations(migrations_dir("points")))
        note(f"Scale: {transfers:,} transfers over {members:,} members, {days} earning days each")
        started = time.perf_counter()
        await fill_ledger(conn, members, transfers)
        await fill_earnings(conn, members, days)
        await conn.execute("VACUUM ANALYZE points.transfers")
        await conn.execute("ANALYZE points.earned_by_day; ANALYZE points.period_totals; ANALYZE points.members")
        fill_s = time.perf_counter() - started
        rows = await conn.fetchval("SELECT count(*) FROM points.earned_by_day")
        max_seq = await conn.fetchval("SELECT max(seq) FROM points.transfers")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('points.transfers'))")
        pg_version = await conn.fetchval("SHOW server_version")
        await conn.close()
        pool = await make_pool(dsn, "points", min_size=1, max_size=2, application_name="scale")
        starts = policy.period_starts(date.today())
        rnd = random.Random(1)
        results: dict[str, dict[str, float]] = {}
        member = lambda: f"m{rnd.randrange(members)}"  # noqa: E731
        leaders = max(1, samples * 3 // 10)

        async def balance(_i: int) -> None:
            m = member()
            await kernel_members.get(c, m)
            await repo.balance(c, m)
            await levels.earned_365d(c, m, "Asia/Shanghai")

        async with pool.acquire() as c:
            with step("Scale: queries", 6) as bar:
                results["balance"] = percentiles(await timed(samples, balance))
                bar.update(1)
                results["ledger_first_page"] = percentiles(
                    await timed(samples, lambda _i: repo.ledger_page(c, member(), None, PAGE + 1))
                )
                bar.update(2)
                results["ledger_page_from_cursor"] = percentiles(
                    await timed(samples, lambda _i: repo.ledger_page(c, member(), rnd.randrange(1, max_seq), PAGE + 1))
                )
                bar.update(3)
                for k, period in enumerate(("month", "year", "all")):
                    results[f"leaderboard_top100_{period}_city"] = percentiles(
                        await timed(leaders, lambda _i, p=period: repo.top_of_period(c, p, starts[p], None, 100))
                    )
                    bar.update(4 + k)
                results["leaderboard_top100_year_district"] = percentiles(
                    await timed(leaders, lambda i: repo.top_of_period(c, "year", starts["year"], f"d{i % 20}", 100))
                )
                results["earned_365d_one_member"] = percentiles(
                    await timed(
                        samples, lambda _i: repo.earned_in_window(c, member(), standing.window_start(date.today()))
                    )
                )
                bar.update(6)
        await pool.close()
    finally:
        pg.stop()
        shutil.rmtree(state, ignore_errors=True)  # gigabytes at full scale
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(pg_version),
        "members": members,
        "transfers": transfers,
        "transfers_table_size": size,
        "earned_by_day_rows": rows,
        "fill_seconds": round(fill_s, 1),
        "queries": results,
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    result = asyncio.run(main(*args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
