"""A service's EventConsumer driven in process on an embedded PostgreSQL of its own: the profiles' common part.

`bench.points_profile` and `bench.notify_profile` both feed a service's real consumer (its use cases
and the kernel) batches of records with no broker, so the consumer's database path is measured
alone. What they share is here: the PostgreSQL (pg_stat_statements preloaded with `--pg`), the
migrated schema, a pool of one connection whose statements are counted, the consumer, the timed
(optionally cProfiled) feed, PostgreSQL's work around it, the command line and the printed tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.engine import EventConsumer
from incentives_kernel.envelope import encode_event
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.health import Health
from incentives_kernel.metrics import KernelMetrics
from incentives_kernel.outcome import UseCase
from incentives_ops.embedded import EmbeddedPostgres, free_port
from incentives_ops.services import freeze_startup_objects
from prometheus_client import CollectorRegistry

from bench import pgwork

DEFAULTS = (5000, 2500, 500)  # N events, M members, B per batch


def statement(query: str) -> str:
    """A statement's text as counted: one line, savepoints without their generated names."""
    words = query.split()
    if words[0] in ("SAVEPOINT", "RELEASE", "ROLLBACK") and "SAVEPOINT" in words:
        words = words[:-1]
    return " ".join(words)[:90]


def record(topic: str, offset: int, key: str, event: dict[str, Any]) -> ConsumerRecord[Any, Any]:
    value = encode_event(event)
    return ConsumerRecord(topic, 0, offset, 0, 0, key.encode(), value, None, len(key), len(value), [])


class _PgOnly:
    """What `pgwork.enable_statements` needs of a stack: its PostgreSQL."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg


async def snapshot(dsn: str) -> pgwork.Snapshot:
    conn = await asyncpg.connect(dsn)
    try:
        return await pgwork.snapshot(conn)
    finally:
        await conn.close()


@dataclass
class InProcess:
    """The consumer on its database; `statements` counts what its one connection sent (an executemany is one)."""

    pg: EmbeddedPostgres
    pool: asyncpg.Pool
    consumer: EventConsumer
    statements: Counter[str]
    pg_work: bool

    async def feed(self, records: Sequence[ConsumerRecord[Any, Any]], batch: int) -> None:
        for i in range(0, len(records), batch):
            await self.consumer.handle_batch(records[i : i + batch])

    async def before(self) -> pgwork.Snapshot | None:
        """PostgreSQL's counters before the measured feed (with --pg), the statement counts reset."""
        if self.pg_work:
            # The consumer's backend sends its table statistics when idle, at most once a second: flush
            # them now, or the setup's rows (the registrations) are counted as the measured feed's.
            async with self.pool.acquire() as conn:
                await conn.execute("SELECT pg_stat_force_next_flush()")
        self.statements.clear()
        return await snapshot(self.pg.admin_dsn) if self.pg_work else None

    async def work(self, before: pgwork.Snapshot | None, events: int, schemas: tuple[str, ...]) -> pgwork.Work | None:
        """Closes the pool, then PostgreSQL's work per event since `before` (None without --pg)."""
        await self.pool.close()  # its backend exits and flushes its statistics
        if before is None:
            return None
        await asyncio.sleep(0.5)
        return pgwork.work(before, await snapshot(self.pg.admin_dsn), events, schemas=schemas)


@contextlib.asynccontextmanager
async def consumer_on_embedded_pg(
    service: str,
    use_cases: Callable[[CollectorRegistry], Mapping[str, UseCase]],
    ignore_types: Collection[str],
    pg_work: bool,
) -> AsyncIterator[InProcess]:
    """`service`'s consumer on a fresh embedded PostgreSQL with its migrations; the server removed after."""
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix=f"{service}-profile-")) / "pgdata", free_port())
    dsn = pg.start()
    try:
        if pg_work:
            await pgwork.enable_statements(_PgOnly(pg), pg.admin_dsn)
            await pgwork.create_extension(pg.admin_dsn)
        pool = await make_pool(dsn, service, min_size=1, max_size=1, application_name=f"{service}-profile")
        statements: Counter[str] = Counter()
        async with pool.acquire() as conn:
            await migrate(conn, service, load_migrations(migrations_dir(service)))
            conn.add_query_logger(lambda q: statements.update([statement(q.query)]))
        registry = CollectorRegistry()
        consumer = EventConsumer(
            service=service,
            pool=lambda: pool,
            metrics=KernelMetrics(service, registry),
            health=Health(),
            use_cases=use_cases(registry),
            types=ALL_TYPES,
            ignore_types=ignore_types,
        )
        freeze_startup_objects()  # as `incentives_ops.services.serve` does before a service runs
        yield InProcess(pg, pool, consumer, statements, pg_work)
    finally:
        pg.remove()
        shutil.rmtree(pg.data_dir.parent, ignore_errors=True)  # mkdtemp's directory, with postgres.log


@dataclass
class Timed:
    profiler: cProfile.Profile | None
    took: float = 0.0


@contextlib.contextmanager
def timed(profile: str | None) -> Iterator[Timed]:
    """Wall-clock seconds of the block (`took`), under cProfile when `profile` names a sort order."""
    t = Timed(cProfile.Profile() if profile else None)
    started = time.perf_counter()
    if t.profiler:
        t.profiler.enable()
    try:
        yield t
    finally:
        if t.profiler:
            t.profiler.disable()
        t.took = time.perf_counter() - started


def print_work(work: pgwork.Work, top: int, tables: bool) -> None:
    """Per-event figures, the tables written (if asked) and the top statements by time."""
    print("  " + json.dumps(work.per_event))
    if tables:
        for table, per in sorted(work.tables.items()):
            print(f"  {table:32} {json.dumps(per)}")
    for st in work.top_statements[:top]:
        calls, ms = st["calls_per_event"], st["ms_per_1000_events"]
        print(f"  {calls:7.3f} calls/event {ms:7.1f} ms/1000  {st['query'][:90]}")


def print_profile(t: Timed, sort: str, lines: int) -> None:
    if t.profiler:
        out = io.StringIO()
        pstats.Stats(t.profiler, stream=out).sort_stats(sort).print_stats(lines)
        print(out.getvalue())


def cli(argv: Sequence[str]) -> tuple[int, int, int, str | None, list[str]]:
    """N M B (defaults 5000 2500 500), the cProfile sort order or None, and the flags given."""
    flags = [a for a in argv if a.startswith("--")]
    args = [int(a) for a in argv if not a.startswith("--")]
    n, m, b = (args + list(DEFAULTS)[len(args) :])[:3]
    # --profile sorts by cumulative time; --profile=tottime by time spent in the function itself.
    sort = next((f.partition("=")[2] or "cumulative" for f in flags if f.startswith("--profile")), None)
    return n, m, b, sort, flags
