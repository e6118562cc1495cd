"""Parking: events that arrive before what they depend on wait here (SQL of the parked_events table).

Other producers publish on other topics and partitions, so a report's status may overtake the
report and points for a member may overtake the member's registration. A use case raises `Park`
naming what it awaits (`member:<id>`, `report:<id>`); the consumer keeps the event, and replays it
when a use case's outcome says that key was released. What waits longer than the grace period is
dead-lettered with its reason by a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from .db import Conn
from .inbox import InboxKey, Position
from .outbox import decode_header, encode_header
from .outcome import Park

__all__ = ["Park", "ParkedEvent", "count", "park", "park_many", "take", "take_expired"]


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    key: InboxKey
    awaiting: str
    reason: str
    position: Position
    record_key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


_PARK = """INSERT INTO parked_events (consumer, source, event_id, awaiting, reason, topic, kafka_partition,
                                      kafka_offset, key, value, headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
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
    """Keep these events until what each awaits is released (one round trip)."""
    await conn.executemany(
        _PARK,
        [
            (
                e.key.consumer,
                e.key.source,
                e.key.event_id,
                e.awaiting,
                e.reason,
                e.position.topic,
                e.position.partition,
                e.position.offset,
                e.record_key,
                e.value,
                [encode_header(k, v) for k, v in e.headers],
            )
            for e in events
        ],
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
    rows = await conn.fetch(
        """DELETE FROM parked_events WHERE consumer = $1 AND awaiting = $2
           RETURNING consumer, source, event_id, awaiting, reason, topic, kafka_partition, kafka_offset, key,
                     value, headers, parked_at""",
        consumer,
        awaiting,
    )
    return [_row(r) for r in sorted(rows, key=lambda r: (r["parked_at"], r["kafka_offset"]))]


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
