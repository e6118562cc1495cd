"""Points read paths at a city's scale: leaderboard top-100 and the 365-day figure behind a balance.

Fills the points schema of an embedded PostgreSQL with M members over 20 districts, each with D days
of earnings in the last year (earned_by_day) and the matching per-period totals, then times the
queries the HTTP API runs (repository.top_of_period, repository.earned_in_window) many times and
reports p50/p95/p99.

    uv run python bench/points_scale.py [M] [D]     # default 100000 members, 30 earning days each
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
from incentives_kernel import standing
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_ops.embedded import EmbeddedPostgres, free_port
from incentives_ops.provision import _with
from points import policy
from points import repository as repo

RESULTS = Path(__file__).parent / "results" / "points_scale.json"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": round(pick(0.50) * 1000, 3),
        "p95_ms": round(pick(0.95) * 1000, 3),
        "p99_ms": round(pick(0.99) * 1000, 3),
        "mean_ms": round(statistics.mean(ordered) * 1000, 3),
    }


async def fill(conn: asyncpg.Connection, members: int, days: int) -> None:
    today = date.today()
    rnd = random.Random(7)
    by_day, totals = [], {}
    for i in range(members):
        member, district = f"m{i}", f"d{i % 20}"
        for _ in range(days):
            day = today - timedelta(days=rnd.randrange(365))
            earned = rnd.choice((3, 5, 6, 8, 10, 25))
            by_day.append((member, day, earned))
            for period, start in policy.period_starts(day).items():
                key = (period, start, member)
                totals[key] = (district, totals.get(key, (district, 0))[1] + earned)
    by_day_unique: dict[tuple[str, date], int] = {}
    for member, day, earned in by_day:
        by_day_unique[(member, day)] = by_day_unique.get((member, day), 0) + earned
    await conn.copy_records_to_table(
        "earned_by_day", schema_name="points", records=[(m, d, e) for (m, d), e in by_day_unique.items()]
    )
    await conn.copy_records_to_table(
        "period_totals",
        schema_name="points",
        records=[(p, s, m, district, e) for (p, s, m), (district, e) in totals.items()],
    )
    await conn.execute("ANALYZE points.earned_by_day; ANALYZE points.period_totals")


async def timed(n: int, call) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
        if sys.stdout.isatty() and i % 50 == 0:
            print(f"\r  {i}/{n}", end="", flush=True)
    return samples


async def main(members: int, days: int) -> dict[str, object]:
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
        print(f"filling {members} members x {days} earning days ...")
        started = time.perf_counter()
        await fill(conn, members, days)
        fill_s = time.perf_counter() - started
        rows = await conn.fetchval("SELECT count(*) FROM points.earned_by_day")
        await conn.close()
        pool = await make_pool(dsn, "points", min_size=1, max_size=2, application_name="scale")
        today = date.today()
        starts = policy.period_starts(today)
        first_day = standing.window_start(today)
        rnd = random.Random(1)
        results: dict[str, dict[str, float]] = {}
        async with pool.acquire() as c:
            for period in ("month", "year", "all"):
                results[f"leaderboard_top100_{period}_city"] = percentiles(
                    await timed(300, lambda _i, p=period: repo.top_of_period(c, p, starts[p], None, 100))
                )
            results["leaderboard_top100_year_district"] = percentiles(
                await timed(300, lambda i: repo.top_of_period(c, "year", starts["year"], f"d{i % 20}", 100))
            )
            results["earned_365d_one_member"] = percentiles(
                await timed(1000, lambda _i: repo.earned_in_window(c, f"m{rnd.randrange(members)}", first_day))
            )
        await pool.close()
    finally:
        pg.stop()
    print()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "members": members,
        "earned_by_day_rows": rows,
        "fill_seconds": round(fill_s, 1),
        "queries": results,
    }


if __name__ == "__main__":
    m = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    result = asyncio.run(main(m, d))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
