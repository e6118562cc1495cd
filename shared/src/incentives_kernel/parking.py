"""Parking: events that arrive before what they depend on wait here (SQL of the parked_events table).

Other producers publish on other topics and partitions, so a report's status may overtake the
report and points for a member may overtake the member's registration. A use case raises `Park`
naming what it awaits (`member:<id>`, `report:<id>`); the consumer keeps the event, and replays it
when a use case's outcome says that key was released. What waits longer than the grace period is
dead-lettered with its reason by a sweep.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from .db import Conn
from .inbox import InboxKey, Position
from .outbox import decode_header, encode_header
from .outcome import Park

__all__ = ["Park", "ParkedEvent", "count", "park", "park_many", "take", "take_expired", "take_many"]


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    key: InboxKey
    awaiting: str
    reason: str
    position: Position
    record_key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


# One statement for a batch: the newest row per identity (an event parked twice in one batch keeps
# what it waits for last, as one statement per row did; ON CONFLICT DO UPDATE refuses to touch a
# row twice in one statement).
_PARK = """INSERT INTO parked_events (consumer, source, event_id, awaiting, reason, topic, kafka_partition,
                                      kafka_offset, key, value, headers)
           SELECT consumer, source, event_id, awaiting, reason, topic, kafka_partition, kafka_offset, key, value,
                  headers::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
                       $8::bigint[], $9::bytea[], $10::bytea[], $11::text[])
                AS u(consumer, source, event_id, awaiting, reason, topic, kafka_partition, kafka_offset, key, value,
                     headers)
           ON CONFLICT (consumer, source, event_id) DO UPDATE SET awaiting = EXCLUDED.awaiting,
               reason = EXCLUDED.reason"""


async def park(
    conn: Conn,
    key: InboxKey,
    awaiting: str,
    reason: str,
    pos: Position,
    record_key: bytes | None,
    value: bytes,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> None:
    await park_many(conn, [ParkedEvent(key, awaiting, reason, pos, record_key, value, headers)])


async def park_many(conn: Conn, events: Sequence[ParkedEvent]) -> None:
    """Keep these events until what each awaits is released (one statement)."""
    if not events:
        return
    last = list({e.key: e for e in events}.values())
    await conn.execute(
        _PARK,
        [e.key.consumer for e in last],
        [e.key.source for e in last],
        [e.key.event_id for e in last],
        [e.awaiting for e in last],
        [e.reason for e in last],
        [e.position.topic for e in last],
        [e.position.partition for e in last],
        [e.position.offset for e in last],
        [e.record_key for e in last],
        [e.value for e in last],
        [json.dumps([encode_header(k, v) for k, v in e.headers]) for e in last],
    )


def _row(r: asyncpg.Record) -> ParkedEvent:
    return ParkedEvent(
        key=InboxKey(r["consumer"], r["source"], r["event_id"]),
        awaiting=r["awaiting"],
        reason=r["reason"],
        position=Position(r["topic"], r["kafka_partition"], r["kafka_offset"]),
        record_key=r["key"],
        value=r["value"],
        headers=tuple(decode_header(h) for h in r["headers"]),
    )


async def take(conn: Conn, consumer: str, awaiting: str) -> list[ParkedEvent]:
    """Remove and return the events waiting for `awaiting`, oldest first (in the caller's transaction)."""
    return await take_many(conn, consumer, [awaiting])


async def take_many(conn: Conn, consumer: str, awaiting: Sequence[str]) -> list[ParkedEvent]:
    """`take` for many keys in one statement: grouped by key in the order given, each group oldest first.

    A batch of registrations releases its members' parked events with this one statement instead of
    one per registration (at a cold start that was half of PostgreSQL's time, docs/benchmarks/notes.md).
    """
    if not awaiting:
        return []
    rows = await conn.fetch(
        """DELETE FROM parked_events WHERE consumer = $1 AND awaiting = ANY($2::text[])
           RETURNING consumer, source, event_id, awaiting, reason, topic, kafka_partition, kafka_offset, key,
                     value, headers, parked_at""",
        consumer,
        list(dict.fromkeys(awaiting)),
    )
    rank = {key: i for i, key in reversed(list(enumerate(awaiting)))}
    return [_row(r) for r in sorted(rows, key=lambda r: (rank[r["awaiting"]], r["parked_at"], r["kafka_offset"]))]


async def take_expired(conn: Conn, consumer: str, grace: timedelta, limit: int = 500) -> list[ParkedEvent]:
    rows = await conn.fetch(
        """DELETE FROM parked_events WHERE (consumer, source, event_id) IN (
               SELECT consumer, source, event_id FROM parked_events
               WHERE consumer = $1 AND parked_at < now() - $2::interval
               ORDER BY parked_at LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING consumer, source, event_id, awaiting, reason, topic, kafka_partition, kafka_offset, key,
                     value, headers, parked_at""",
        consumer,
        grace,
        limit,
    )
    return [_row(r) for r in rows]


async def count(conn: Conn, consumer: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM parked_events WHERE consumer = $1", consumer))
