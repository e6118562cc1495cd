"""The inbox: the record that makes a redelivered event a no-op (SQL of the kernel's inbox table)."""

from __future__ import annotations

from collections.abc import Sequence
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


async def claim_many(conn: Conn, claims: Sequence[tuple[InboxKey, str | None, Position]]) -> set[InboxKey]:
    """Record many events as handled with one statement; returns the keys newly claimed.

    Equivalent to `claim` (without `retry_dead`) for each in order: a key already in the inbox, or
    repeated earlier in `claims`, is not returned. Runs inside the caller's transaction.
    """
    if not claims:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, source, event_id, event_type, topic, kafka_partition, kafka_offset)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[])
           ON CONFLICT (consumer, source, event_id) DO NOTHING
           RETURNING consumer, source, event_id""",
        [k.consumer for k, _, _ in claims],
        [k.source for k, _, _ in claims],
        [k.event_id for k, _, _ in claims],
        [t for _, t, _ in claims],
        [p.topic for _, _, p in claims],
        [p.partition for _, _, p in claims],
        [p.offset for _, _, p in claims],
    )
    return {InboxKey(r["consumer"], r["source"], r["event_id"]) for r in rows}


async def set_outcomes(conn: Conn, outcomes: Sequence[tuple[InboxKey, str, str | None]]) -> None:
    """`set_outcome` for many keys in one statement (the last outcome given for a key wins, as in order)."""
    if not outcomes:
        return
    # One row per key: given two rows that join the same key, UPDATE ... FROM applies either one.
    last = {k: (outcome, reason) for k, outcome, reason in outcomes}
    await conn.execute(
        """UPDATE inbox i SET outcome = u.outcome, reason = u.reason
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                AS u(consumer, source, event_id, outcome, reason)
           WHERE i.consumer = u.consumer AND i.source = u.source AND i.event_id = u.event_id""",
        [k.consumer for k in last],
        [k.source for k in last],
        [k.event_id for k in last],
        [o for o, _ in last.values()],
        [r for _, r in last.values()],
    )
