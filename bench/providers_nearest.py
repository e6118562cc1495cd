"""Nearest providers over 100,000 of them: the rewards service's own query (repository.nearest_providers)
on its own migrated schema, in an embedded PostgreSQL of its own.

`uv run python -m bench.providers_nearest [--providers N] [--lookups N]` prints one JSON line: the plan
(the KNN index scan on providers_location, no sequential scan) and the latency of lookups at random
spots of a city-sized box (p50/p95/max, ms), beside an anchor: the same ordering by a full sort
(`ORDER BY` the haversine distance over every row, the table scan the index avoids).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from incentives_kernel import db
from incentives_ops.embedded import EmbeddedPostgres, free_port
from rewards import repository as repo

# A box around a city (about 60 x 60 km): 100,000 providers is far denser than any real registry.
LAT, LON, SPAN = 39.9, 116.4, 0.55
FULL_SORT = """SELECT provider_id FROM providers WHERE active ORDER BY 2 * 6371008.8 * asin(sqrt(
    power(sin(radians(lat - $1) / 2), 2) + cos(radians($1)) * cos(radians(lat))
    * power(sin(radians(lon - $2) / 2), 2))), provider_id LIMIT $3"""


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


async def measure(dsn: str, providers: int, lookups: int, limit: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn, "rewards", db.load_migrations(db.migrations_dir("rewards")))
        started = time.perf_counter()
        await conn.execute(
            """INSERT INTO providers (provider_id, name, kind, address, lat, lon, opening_hours)
               SELECT 'p-' || i, 'provider ' || i,
                      (ARRAY['station', 'shop', 'hospital', 'school_office', 'other'])[1 + i % 5],
                      'street ' || i, $1 + (random() - 0.5) * $3, $2 + (random() - 0.5) * $3, 'Mo-Su 08:00-22:00'
               FROM generate_series(1, $4) AS i""",
            LAT,
            LON,
            SPAN,
            providers,
        )
        await conn.execute("ANALYZE providers")
        loaded_s = time.perf_counter() - started
        plan = await conn.fetchval(
            """EXPLAIN (FORMAT JSON) SELECT * FROM providers WHERE active
               ORDER BY point(lon, lat) <-> point($1, $2) LIMIT 60""",
            LON,
            LAT,
        )
        plan_text = json.dumps(plan)
        rnd = random.Random(19)
        spots = [(LAT + (rnd.random() - 0.5) * SPAN, LON + (rnd.random() - 0.5) * SPAN) for _ in range(lookups)]
        for lat, lon in spots[:20]:  # warm the cache: the figure is the steady state
            await repo.nearest_providers(conn, lat, lon, limit, None)
        knn, full, agree = [], [], 0
        for i, (lat, lon) in enumerate(spots):
            t0 = time.perf_counter()
            found = await repo.nearest_providers(conn, lat, lon, limit, None)
            knn.append(time.perf_counter() - t0)
            if i < 20:  # the anchor is slow: a few suffice, and they check the order too
                t0 = time.perf_counter()
                exact = await conn.fetch(FULL_SORT, lat, lon, limit)
                full.append(time.perf_counter() - t0)
                agree += [r["provider_id"] for r in found] == [r["provider_id"] for r in exact]
        return {
            "benchmark": "providers_nearest",
            "providers": providers,
            "lookups": lookups,
            "limit": limit,
            "load_s": round(loaded_s, 2),
            "uses_knn_index": "providers_location" in plan_text and "Seq Scan" not in plan_text,
            "knn": _ms(knn),
            "anchor_full_sort": _ms(full),
            "same_order_as_full_sort": f"{agree}/{min(20, lookups)}",
        }
    finally:
        await conn.close()


async def main_async(providers: int, lookups: int, limit: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="incentives-bench-providers-"))
    pg = EmbeddedPostgres(data, free_port())
    try:
        dsn = await asyncio.to_thread(pg.start)
        return await measure(dsn, providers, lookups, limit)
    finally:
        await asyncio.to_thread(pg.stop)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.providers_nearest", description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args.providers, args.lookups, args.limit))))


if __name__ == "__main__":
    main()
