"""The transactional outbox and its relay.

Rows are written in the caller's transaction, so an event is published if and only if that
transaction commits; a unit of work (uow.py) holds a transaction's rows and `write`s them in one
round trip just before it commits. The relay publishes unpublished rows in id order and marks them sent.

Per-key order: exactly one relay per service publishes at a time (a session advisory lock elects
it; another replica takes over when its connection drops), it sends rows in id order, and the
producer keeps the order of sends per partition. A crash between the broker's ack and the mark
re-publishes the same rows with the same event ids: consumers deduplicate them in their inbox.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import asyncpg
import structlog
from pydantic import BaseModel
from pydantic_core import to_json

from .db import Conn, release_session_lock
from .envelope import encode_built_event, encode_event

log = structlog.get_logger(__name__)

Header = tuple[str, bytes]


class Row(NamedTuple):
    """One outbox row as it is inserted: what the relay will publish, with its stable id."""

    event_id: str
    topic: str
    key: bytes | None
    value: bytes
    headers: list[list[str]]


def row(
    *, topic: str, key: str | bytes | None, value: bytes | dict[str, Any], event_id: str, headers: Iterable[Header] = ()
) -> Row:
    """A message as an outbox row (a dict value is encoded as JSON)."""
    if isinstance(value, dict):
        value = encode_event(value)
    if isinstance(key, str):
        key = key.encode()
    return Row(event_id, topic, key, value, [encode_header(k, v) for k, v in headers])


def event_row(
    *,
    topic: str,
    key: str,
    source: str,
    type: str,
    subject: str | None,
    data: BaseModel,
    event_id: str,
    time: datetime | None = None,
) -> Row:
    """A CloudEvent of ours as an outbox row (`UnitOfWork.emit` is how services write one)."""
    value = encode_built_event(event_id=event_id, source=source, type=type, subject=subject, data=data, time=time)
    return Row(event_id, topic, key.encode(), value, _event_headers(type))


@functools.lru_cache(maxsize=256)
def _event_headers_cached(type: str) -> tuple[tuple[str, str, str], ...]:
    headers = [("ce_type", type.encode()), ("content-type", b"application/cloudevents+json")]
    return tuple((k, v, f) for k, v, f in (encode_header(k, v) for k, v in headers))


def _event_headers(type: str) -> list[list[str]]:
    """Our events' headers as stored, encoded once per type (a fresh list per row: rows are mutable)."""
    return [list(h) for h in _event_headers_cached(type)]


async def write(conn: Conn, rows: Sequence[Row]) -> None:
    """Insert rows in the caller's transaction, in order, in one statement (idempotent per topic+event_id).

    One INSERT from arrays, not an executemany: PostgreSQL then runs one statement per batch of 500
    instead of 500 (docs/benchmarks/notes.md); ids follow the rows' order, which the relay keeps.
    """
    if len(rows) == 1:
        await conn.execute(_INSERT, *rows[0])
    elif rows:
        await conn.execute(
            _INSERT_MANY,
            [r.event_id for r in rows],
            [r.topic for r in rows],
            [r.key for r in rows],
            [r.value for r in rows],
            # pydantic_core's encoder: json.dumps was a tenth of notify's consumer time (2 rows per event).
            [to_json(r.headers).decode() for r in rows],
        )


async def enqueue(
    conn: Conn,
    *,
    topic: str,
    key: str | bytes | None,
    value: bytes | dict[str, Any],
    event_id: str,
    headers: Iterable[Header] = (),
) -> None:
    """Write one message now, in the caller's transaction (tools and tests; services use a unit of work)."""
    await write(conn, [row(topic=topic, key=key, value=value, event_id=event_id, headers=headers)])


_INSERT = """INSERT INTO outbox (event_id, topic, key, value, headers)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (topic, event_id) DO NOTHING"""
_INSERT_MANY = """INSERT INTO outbox (event_id, topic, key, value, headers)
                  SELECT event_id, topic, key, value, headers::jsonb
                  FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[]) WITH ORDINALITY
                       AS u(event_id, topic, key, value, headers, n)
                  ORDER BY n
                  ON CONFLICT (topic, event_id) DO NOTHING"""


def encode_header(key: str, value: bytes) -> list[str]:
    """A header as jsonb can hold it: header values are arbitrary bytes (NUL included), so base64."""
    return [key, base64.b64encode(value).decode("ascii"), "b64"]


def decode_header(stored: list[str]) -> tuple[str, bytes]:
    if len(stored) == 3 and stored[2] == "b64":
        return stored[0], base64.b64decode(stored[1])
    return stored[0], stored[1].encode("latin-1")  # rows written before base64 was used


class Producer(Protocol):
    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[Header] | None = None
    ) -> Awaitable[Any]: ...


class RelayObserver(Protocol):
    def published(self, topic: str, count: int) -> None: ...
    def backlog(self, pending: int, oldest_age_s: float) -> None: ...
    def failed(self) -> None: ...


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"outbox-relay:{schema}".encode()).digest()[:8], "big", signed=True)


class OutboxRelay:
    """Publishes committed outbox rows. `wake()` after a commit shortens the wait."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: Producer,
        *,
        schema: str,
        observer: RelayObserver,
        batch_size: int = 2000,
        idle_poll_s: float = 0.05,
        retention_hours: int = 72,
        on_health: Callable[[bool, str], None] = lambda ok, why: None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = schema
        self._observer = observer
        self._batch = batch_size
        self._idle = idle_poll_s
        self._retention_hours = retention_hours
        self._on_health = on_health
        self._wake = asyncio.Event()
        self._stopping = False
        self.is_leader = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                async with self._pool.acquire() as conn:
                    await self._lead(conn)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.is_leader = False
                self._observer.failed()
                self._on_health(False, f"outbox relay: {type(exc).__name__}")
                await self._report_backlog_safely()  # the backlog matters most while publishing fails
                log.warning(
                    "outbox relay failed, retrying",
                    error=type(exc).__name__,
                    detail=str(exc)[:200],
                    retry_in_s=round(backoff, 2),
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0) * (0.8 + 0.4 * random.random())

    async def _lead(self, conn: Conn) -> None:
        key = _lock_key(self._schema)
        while not self._stopping:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                break
            await self._sleep(1.0)  # a standby: another replica's relay publishes
        if self._stopping:
            return
        self.is_leader = True
        try:
            last_stats = 0.0
            last_purge = time.monotonic()
            while not self._stopping:
                sent = await self.publish_batch(conn)
                self._on_health(True, "")
                now = time.monotonic()
                if now - last_stats > 2.0:
                    await self._report_backlog(conn)
                    last_stats = now
                if now - last_purge > 60.0:
                    await self._purge(conn)
                    last_purge = now
                if sent < self._batch:
                    await self._sleep(self._idle)
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):  # a connection it could not unlock is closed, lock and all
                await release_session_lock(conn, key)

    async def publish_batch(self, conn: Conn) -> int:
        """Publish one batch of unpublished rows, pipelined; returns how many were sent."""
        async with conn.transaction():
            rows = await conn.fetch(
                """SELECT id, topic, key, value, headers FROM outbox
                   WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self._batch,
            )
            if not rows:
                return 0
            acks = []
            for r in rows:
                headers = [decode_header(h) for h in r["headers"]]
                acks.append(await self._producer.send(r["topic"], r["value"], key=r["key"], headers=headers))
            await asyncio.gather(*acks)  # every broker ack before any row is marked
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["topic"]] = counts.get(r["topic"], 0) + 1
        for topic, n in counts.items():
            self._observer.published(topic, n)
        return len(rows)

    async def _report_backlog_safely(self) -> None:
        with contextlib.suppress(Exception):
            async with self._pool.acquire() as conn:
                await self._report_backlog(conn)

    async def _report_backlog(self, conn: Conn) -> None:
        row = await conn.fetchrow(
            """SELECT count(*) AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS age
               FROM outbox WHERE published_at IS NULL"""
        )
        assert row is not None
        self._observer.backlog(int(row["n"]), float(row["age"]))

    async def _purge(self, conn: Conn) -> None:
        await conn.execute(
            """DELETE FROM outbox WHERE id IN (
                   SELECT id FROM outbox WHERE published_at < now() - make_interval(hours => $1) LIMIT 10000)""",
            self._retention_hours,
        )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()
