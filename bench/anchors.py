"""Same-run anchors the benchmarks put beside their figures (the broker's and the database's ceilings)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from incentives_ops.embedded import free_port
from incentives_ops.services import SERVICES as SERVICE_INFO
from incentives_ops.stack import Stack, StackOptions

from bench import lifecycle
from bench.waits import Progress

Record = tuple[str, bytes | None, bytes]  # topic, key, value

TRANSFERS_SHAPED = """CREATE TABLE IF NOT EXISTS public.{name} (
    transfer_id text PRIMARY KEY, debit_account text NOT NULL, credit_account text NOT NULL,
    amount bigint NOT NULL, kind text NOT NULL, member_id text NOT NULL, reason text NOT NULL,
    source_event_id text NOT NULL, occurred_at timestamptz NOT NULL, seq bigserial UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now())"""


def bench_stack() -> Stack:
    """An embedded stack of its own on free ports (no demo traffic), so a benchmark never meets `make run`.

    Registered with `bench.lifecycle`, so Ctrl-C or SIGTERM tears it down whatever the run was doing.
    """
    stack = Stack(
        StackOptions(
            state_dir=Path(tempfile.mkdtemp(prefix="incentives-bench-")),
            pg_port=free_port(),
            kafka_port=free_port(),
            ports={s: free_port() for s in ("reports", "points", "rewards", "notify")},
        )
    )
    lifecycle.register(stack)
    return stack


async def stop_stack(stack: Stack) -> None:
    """Stop the stack and remove its files (hundreds of MB of PostgreSQL data per run)."""
    await asyncio.to_thread(stack.stop)
    await asyncio.to_thread(shutil.rmtree, stack.state, True)
    lifecycle.unregister(stack)


def start_extra_service(stack: Stack, name: str, k: int) -> subprocess.Popen[bytes]:
    """A k-th process of a service in the same consumer group (scale-out), on an HTTP port of its own."""
    prefix = SERVICE_INFO[name].env_prefix
    log = (stack.logs / f"{name}-{k}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "incentives_ops.cli", "serve", name],
        env={**stack.service_env(name), f"{prefix}HTTP_PORT": str(free_port())},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.procs[f"{name}-{k}"] = proc
    return proc


async def produce_records(bootstrap: str, records: Sequence[Record]) -> float:
    """Seconds a pipelined aiokafka producer takes to have every record acked (a failed send raises)."""
    p = producer(bootstrap, linger_ms=5)
    await p.start()
    try:
        started = time.perf_counter()
        acks = [await p.send(topic, value, key=key) for topic, key, value in records]
        await asyncio.gather(*acks)
        return time.perf_counter() - started
    finally:
        await p.stop()


def producer(bootstrap: str, **options: object) -> AIOKafkaProducer:
    """The services' producer settings (acks=all; never idempotent against Tansu)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, **options)


def drain_consumer(bootstrap: str, *topic_names: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topic_names, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )


async def raw_drain_seconds(bootstrap: str, topic_names: list[str], expected: int) -> float:
    """Seconds a bare aiokafka consumer (no group, no processing) takes to read `expected` records."""
    consumer = drain_consumer(bootstrap, *topic_names)
    await consumer.start()
    started, seen = time.perf_counter(), 0
    progress = Progress("raw drain", expected)
    try:
        while seen < expected:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10000)).values():
                seen += len(records)
            progress.moved(seen)
    finally:
        await consumer.stop()
    return time.perf_counter() - started


async def raw_produce_seconds(bootstrap: str, records: Sequence[Record]) -> float:
    """Seconds a pipelined aiokafka producer (the relay's settings) takes to have every record acked."""
    p = producer(bootstrap, linger_ms=2)
    await p.start()
    try:
        started = time.perf_counter()
        acks = [await p.send(topic, value, key=key) for topic, key, value in records]
        await asyncio.gather(*acks)
        return time.perf_counter() - started
    finally:
        await p.stop()


async def raw_consume_produce_seconds(bootstrap: str, source: str, target: str, expected: int) -> float:
    """Seconds a bare consume -> produce loop takes to copy `expected` records of `source` to `target`."""
    consumer = drain_consumer(bootstrap, source)
    p = producer(bootstrap, linger_ms=2)
    await consumer.start()
    await p.start()
    try:
        started, acks = time.perf_counter(), []
        progress = Progress("raw consume -> produce", expected)
        while len(acks) < expected:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10000)).values():
                for r in records:
                    acks.append(await p.send(target, r.value, key=r.key))
            progress.moved(len(acks))
        await asyncio.gather(*acks)
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await p.stop()


async def naive_consumer_seconds(bootstrap: str, topic: str, dsn: str, limit: int) -> tuple[int, float]:
    """The naive consumer: one database transaction per event (insert one transfer-shaped row, commit).

    Reads `topic` from the start, as the service would, and stops after `limit` events; returns the
    events handled and the seconds they took, from the first record read.
    """
    conn = await asyncpg.connect(dsn)
    await conn.execute(TRANSFERS_SHAPED.format(name="naive_anchor"))
    consumer = drain_consumer(bootstrap, topic)
    await consumer.start()
    handled, started = 0, 0.0
    progress = Progress("naive consumer", limit)
    try:
        while handled < limit:
            progress.moved(handled)
            for records in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
                for r in records:
                    if handled == 0:
                        started = time.perf_counter()
                    if handled >= limit:
                        break
                    try:
                        event = json.loads(r.value)
                        data = event["data"]
                        data["member_id"]
                    except (ValueError, KeyError, TypeError):  # MIX's poison: a naive consumer skips it
                        continue
                    async with conn.transaction():
                        await conn.execute(
                            """INSERT INTO public.naive_anchor (transfer_id, debit_account, credit_account, amount,
                                   kind, member_id, reason, source_event_id, occurred_at)
                               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) ON CONFLICT DO NOTHING""",
                            f"naive-{event['id']}",
                            "issuance:d0",
                            f"member:{data['member_id']}",
                            5,
                            "report",
                            data["member_id"],
                            "report verified",
                            event["id"],
                        )
                    handled += 1
        return handled, time.perf_counter() - started
    finally:
        await consumer.stop()
        await conn.execute("DROP TABLE public.naive_anchor")
        await conn.close()
