"""The inbox: the record that makes a redelivered event a no-op (SQL of the kernel's inbox table)."""

from __future__ import annotations

from dataclasses import dataclass

from .db import Conn


@dataclass(frozen=True, slots=True)
class InboxKey:
    consumer: str
    source: str
    event_id: str


@dataclass(frozen=True, slots=True)
class Position:
    topic: str
    partition: int
    offset: int


async def claim(conn: Conn, key: InboxKey, event_type: str | None, pos: Position, *, retry_dead: bool = False) -> bool:
    """Record the event as handled; False if it already was (then the caller must do nothing).

    `retry_dead` (an operator's DLQ replay) lets an event that was dead-lettered be tried again; a
    plain redelivery of it stays a duplicate. Runs inside the caller's transaction: if that rolls
    back, so does the claim.
    """
    row = await conn.fetchval(
        """INSERT INTO inbox (consumer, source, event_id, event_type, topic, kafka_partition, kafka_offset)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (consumer, source, event_id) DO UPDATE
               SET outcome = 'applied', reason = NULL, topic = EXCLUDED.topic,
                   kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset,
                   handled_at = now()
               WHERE $8 AND inbox.outcome = 'dead_lettered'
           RETURNING 1""",
        key.consumer,
        key.source,
        key.event_id,
        event_type,
        pos.topic,
        pos.partition,
        pos.offset,
        retry_dead,
    )
    return row is not None


async def set_outcome(conn: Conn, key: InboxKey, outcome: str, reason: str | None) -> None:
    await conn.execute(
        "UPDATE inbox SET outcome = $4, reason = $5 WHERE consumer = $1 AND source = $2 AND event_id = $3",
        key.consumer,
        key.source,
        key.event_id,
        outcome,
        reason,
    )
