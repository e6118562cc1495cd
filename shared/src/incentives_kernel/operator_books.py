"""SQL of the operator APIs (operator_api.py): the dead letters this service wrote (kept by the engine,
`keep`), its parked events, and the audit of what operators did to them (kernel migrations 0006, 0003)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .db import Conn
from .inbox import InboxKey, Position
from .outbox import Row, decode_header
from .parking import ParkedEvent


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    topic: str | None = None
    reason: str | None = None
    replayed: bool | None = None  # None: both; False: never replayed; True: replayed at least once
    before: datetime | None = None  # dead-lettered before this time
    ids: Sequence[int] | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead letter as the engine writes it: the DLQ record (its outbox row) and why."""

    row: Row
    topic: str
    reason: str
    error_class: str
    message: str
    service: str


async def keep(conn: Conn, dead: DeadLetter) -> None:
    """Keep a dead letter for the operator APIs, in the transaction that dead-lettered it.

    The same dead letter again (an API replay keeps the record's position, so its DLQ id, and fails
    once more) stays one row, with the latest reason."""
    await conn.execute(
        """INSERT INTO dead_letters (event_id, dlq_topic, topic, reason, error_class, message, service, key, value,
                                     headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (event_id) DO UPDATE
               SET reason = EXCLUDED.reason, error_class = EXCLUDED.error_class, message = EXCLUDED.message""",
        dead.row.event_id,
        dead.row.topic,
        dead.topic,
        dead.reason,
        dead.error_class,
        dead.message,
        dead.service,
        dead.row.key,
        dead.row.value,
        dead.row.headers,
    )


async def purge_dead_letters(conn: Conn, older_than_days: int, limit: int = 1000) -> int:
    """Forget kept dead letters older than the retention (the oldest first, at most `limit` at a time)."""
    status = await conn.execute(
        """DELETE FROM dead_letters WHERE dead_letter_id IN (
               SELECT dead_letter_id FROM dead_letters WHERE dead_lettered_at < now() - make_interval(days => $1)
               ORDER BY dead_letter_id LIMIT $2)""",
        older_than_days,
        limit,
    )
    return int(status.split()[-1])


_DEAD_LETTER_COLUMNS = """dead_letter_id, dlq_topic, topic, reason, error_class, message, service, key, value,
    headers, dead_lettered_at, replay_count, replayed_at, replayed_by"""


async def dead_letters_page(
    conn: Conn, f: DeadLetterFilter, *, after_id: int | None, limit: int
) -> list[asyncpg.Record]:
    """Dead letters matching `f`, newest first (keyset on dead_letter_id)."""
    return list(
        await conn.fetch(
            f"""SELECT {_DEAD_LETTER_COLUMNS} FROM dead_letters
                WHERE ($1::bigint IS NULL OR dead_letter_id < $1)
                  AND ($2::text IS NULL OR topic = $2)
                  AND ($3::text IS NULL OR reason = $3)
                  AND ($4::boolean IS NULL OR (replay_count > 0) = $4)
                  AND ($5::timestamptz IS NULL OR dead_lettered_at < $5)
                  AND ($6::bigint[] IS NULL OR dead_letter_id = ANY ($6))
                ORDER BY dead_letter_id DESC LIMIT $7""",
            after_id,
            f.topic,
            f.reason,
            f.replayed,
            f.before,
            list(f.ids) if f.ids is not None else None,
            limit,
        )
    )


async def lock_dead_letter(conn: Conn, dead_letter_id: int) -> asyncpg.Record | None:
    """One dead letter, locked for its replay (two operators replaying it at once take turns)."""
    return await conn.fetchrow(
        f"SELECT {_DEAD_LETTER_COLUMNS} FROM dead_letters WHERE dead_letter_id = $1 FOR UPDATE", dead_letter_id
    )


async def mark_replayed(conn: Conn, dead_letter_id: int, actor: str) -> None:
    await conn.execute(
        """UPDATE dead_letters SET replay_count = replay_count + 1, replayed_at = now(), replayed_by = $2
           WHERE dead_letter_id = $1""",
        dead_letter_id,
        actor,
    )


async def record_action(conn: Conn, actor: str, action: str, target: str, detail: str) -> None:
    await conn.execute(
        "INSERT INTO operator_actions (actor, action, target, detail) VALUES ($1, $2, $3, $4)",
        actor,
        action,
        target,
        detail,
    )


async def actions_page(conn: Conn, *, after_id: int | None, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT action_id, acted_at, actor, action, target, detail FROM operator_actions
               WHERE ($1::bigint IS NULL OR action_id < $1) ORDER BY action_id DESC LIMIT $2""",
            after_id,
            limit,
        )
    )


async def parked_page(
    conn: Conn,
    consumer: str,
    *,
    awaiting: str | None,
    topic: str | None,
    after: tuple[datetime, str, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """This consumer's parked events, oldest first (keyset on parked_at, source, event_id)."""
    return list(
        await conn.fetch(
            """SELECT source, event_id, awaiting, reason, topic, kafka_partition, kafka_offset, value, parked_at
               FROM parked_events
               WHERE consumer = $1 AND ($2::text IS NULL OR awaiting = $2) AND ($3::text IS NULL OR topic = $3)
                 AND ($4::timestamptz IS NULL OR (parked_at, source, event_id) > ($4, $5, $6))
               ORDER BY parked_at, source, event_id LIMIT $7""",
            consumer,
            awaiting,
            topic,
            after[0] if after else None,
            after[1] if after else "",
            after[2] if after else "",
            limit,
        )
    )


async def take_parked_one(conn: Conn, key: InboxKey) -> ParkedEvent | None:
    """Remove and return one parked event (an operator releases or dead-letters it); None if not parked."""
    r = await conn.fetchrow(
        """DELETE FROM parked_events WHERE consumer = $1 AND source = $2 AND event_id = $3
           RETURNING awaiting, reason, topic, kafka_partition, kafka_offset, key, value, headers""",
        key.consumer,
        key.source,
        key.event_id,
    )
    if r is None:
        return None
    return ParkedEvent(
        key=key,
        awaiting=r["awaiting"],
        reason=r["reason"],
        position=Position(r["topic"], r["kafka_partition"], r["kafka_offset"]),
        record_key=r["key"],
        value=r["value"],
        headers=tuple(decode_header(h) for h in r["headers"]),
    )
