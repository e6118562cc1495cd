"""M5: the outbox relay's events/s and its commit-to-broker-ack lag, beside a raw pipelined producer.

The kernel's OutboxRelay runs in this process on a scratch schema (the kernel's migrations: inbox,
outbox) of an embedded PostgreSQL, publishing to an embedded Tansu with the services' producer
settings. The producer it is given is the real aiokafka producer, wrapped only to note when the
broker acknowledges each record.
1. Throughput: N outbox rows committed in one transaction, then the relay woken (as the services
   do after a commit); events/s from the commit to the last broker ack. Anchor, same run: the same
   N records sent by a bare pipelined aiokafka producer (linger 2 ms, acks=all).
2. Lag: K rows, each committed in its own transaction at a fixed rate (half the measured
   throughput, at most 1,000/s), the relay woken after each commit; per row, commit -> broker ack.

    uv run python -m bench.relay [N] [K]     # default 20000 rows, 2000 paced rows
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from incentives_kernel import topics
from incentives_kernel.db import load_migrations, make_pool, migrate
from incentives_kernel.envelope import encode_event
from incentives_kernel.outbox import OutboxRelay
from incentives_ops.topics_admin import create_topics

from bench.anchors import bench_stack, producer, raw_produce_seconds, stop_stack
from bench.measure import machine, note, percentiles, step
from bench.points_ledger import verified
from bench.waits import Progress

SCHEMA = "bench_relay"


class AckClock:
    """The relay's producer, noting the moment the broker acknowledges each record (keyed by its key).

    What is still awaited is counted as acks arrive (O(1) each): the harness shares the relay's event
    loop, and re-scanning 20,000 keys every 50 ms took a fifth of the loop during the backlog.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.acked: dict[bytes, float] = {}
        self.awaited: set[bytes] = set()

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[tuple[str, bytes]] | None = None
    ) -> Awaitable[Any]:
        future = await self.inner.send(topic, value, key=key, headers=headers)
        future.add_done_callback(lambda _f: self._ack(key or b""))
        return future

    def _ack(self, key: bytes) -> None:
        self.acked.setdefault(key, time.perf_counter())
        self.awaited.discard(key)


class QuietObserver:
    def published(self, topic: str, count: int) -> None: ...
    def backlog(self, pending: int, oldest_age_s: float) -> None: ...
    def failed(self) -> None: ...


def records(prefix: str, n: int) -> list[tuple[str, bytes, bytes]]:
    return [(topics.NOTIFICATIONS, f"{prefix}-{i}".encode(), encode_event(verified(f"rm-{i}"))) for i in range(n)]


async def insert(conn: asyncpg.Connection, rows: list[tuple[str, bytes, bytes]]) -> None:
    await conn.executemany(
        "INSERT INTO outbox (event_id, topic, key, value) VALUES ($1, $2, $3, $4)",
        [(key.decode(), topic, key, value) for topic, key, value in rows],
    )


def expect(clock: AckClock, keys: list[bytes]) -> None:
    """Before the records are sent (or their rows committed): the keys `wait_acked` then waits for."""
    clock.awaited.update(k for k in keys if k not in clock.acked)


async def wait_acked(clock: AckClock, keys: list[bytes], label: str) -> None:
    progress = Progress(label, len(keys), stall_s=30)
    with step(label, len(keys)) as bar:
        while (done := len(keys) - len(clock.awaited)) < len(keys):
            bar.update(done)
            progress.moved(done)
            await asyncio.sleep(0.05)
        bar.update(done)
    assert all(k in clock.acked for k in keys), f"{label}: keys not acknowledged"


async def main(n: int = 20000, k: int = 2000) -> dict[str, object]:
    stack = bench_stack()
    try:
        admin, bootstrap = await stack.start_infra()
        await create_topics(bootstrap)
        conn = await asyncpg.connect(admin)
        with tempfile.TemporaryDirectory(prefix="bench-no-migrations-") as none:  # the kernel's migrations only
            await migrate(conn, SCHEMA, load_migrations(Path(none)))
        await conn.close()
        pool = await make_pool(admin, SCHEMA, min_size=2, max_size=4, application_name="bench-relay")
        kafka = producer(bootstrap, linger_ms=2, client_id="bench-relay")
        await kafka.start()
        clock = AckClock(kafka)
        relay = OutboxRelay(pool, clock, schema=SCHEMA, observer=QuietObserver())
        task = asyncio.create_task(relay.run())
        try:
            note(f"M5: {n} outbox rows in one transaction, then {k} paced single-row commits")
            bulk = records("bulk", n)
            expect(clock, [key for _, key, _ in bulk])
            async with pool.acquire() as c:
                async with c.transaction():
                    await insert(c, bulk)
                committed = time.perf_counter()
            relay.wake()
            await wait_acked(clock, [key for _, key, _ in bulk], "M5 relay backlog")
            relay_s = max(clock.acked[key] for _, key, _ in bulk) - committed
            relay_rate = n / relay_s
            raw_rate = n / await raw_produce_seconds(bootstrap, records("raw", n))

            rate = min(1000.0, relay_rate / 2)
            paced = records("paced", k)
            expect(clock, [key for _, key, _ in paced])
            commits: dict[bytes, float] = {}
            started = time.perf_counter()
            with step("M5 paced commits", k) as bar:
                for i, row in enumerate(paced):
                    delay = started + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    async with pool.acquire() as c:
                        await insert(c, [row])  # autocommit: one transaction per row
                    commits[row[1]] = time.perf_counter()
                    relay.wake()
                    if i % 50 == 0:
                        bar.update(i)
            await wait_acked(clock, list(commits), "M5 paced acks")
            lags = [clock.acked[key] - at for key, at in commits.items()]
            async with pool.acquire() as c:
                pg_version = await c.fetchval("SHOW server_version")
        finally:
            relay.stop()
            await asyncio.wait_for(task, 30)
            await kafka.stop()
            await pool.close()
    finally:
        await stop_stack(stack)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(pg_version),
        "rows": n,
        "relay_events_per_s": round(relay_rate),
        "raw_producer_msgs_per_s": round(raw_rate),
        "ratio_to_raw_producer": round(relay_rate / raw_rate, 3),
        "paced_rows": k,
        "paced_rate_per_s": round(rate),
        "commit_to_ack": percentiles(lags),
        "target_ratio": 0.5,
        "target_lag_p99_ms": 50,
    }


if __name__ == "__main__":
    from bench import lifecycle

    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(lifecycle.run(main(*args)), indent=2))
