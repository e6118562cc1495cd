"""Every SQL statement of the notify service: notifications, preferences, deferred pushes, webhooks.

Statements only: what to notify is usecases.py's, how webhooks are sent delivery.py's; the caller's
unit of work (or the delivery worker's short transactions) owns every transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
from incentives_kernel.db import Conn

from .preferences import Preferences

# ---------------------------------------------------------------- the inbox


async def insert_notification(
    conn: Conn,
    *,
    notification_id: str,
    member_id: str,
    kind: str,
    locale: str,
    title: str,
    body: str,
    source_event: str,
    cause_type: str,
) -> asyncpg.Record | None:
    """Store an inbox notification; None if it exists already (one per event, member and channel)."""
    return await conn.fetchrow(
        """INSERT INTO notifications (notification_id, member_id, kind, locale, title, body, source_event, cause_type)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (notification_id) DO NOTHING
           RETURNING created_at""",
        notification_id,
        member_id,
        kind,
        locale,
        title,
        body,
        source_event,
        cause_type,
    )


class NewNotification(NamedTuple):
    notification_id: str
    member_id: str
    kind: str
    locale: str
    title: str
    body: str
    source_event: str
    cause_type: str


async def insert_notifications(conn: Conn, rows: Sequence[NewNotification]) -> dict[str, datetime]:
    """`insert_notification` for many, in one statement, in order: the created ones' ids and times."""
    if not rows:
        return {}
    found = await conn.fetch(
        """INSERT INTO notifications (notification_id, member_id, kind, locale, title, body, source_event, cause_type)
           SELECT notification_id, member_id, kind, locale, title, body, source_event, cause_type
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[]) WITH ORDINALITY
                AS u(notification_id, member_id, kind, locale, title, body, source_event, cause_type, n)
           ORDER BY n
           ON CONFLICT (notification_id) DO NOTHING
           RETURNING notification_id, created_at""",
        *([r[i] for r in rows] for i in range(8)),
    )
    return {r["notification_id"]: r["created_at"] for r in found}


async def list_notifications(
    conn: Conn, member_id: str, *, unread: bool, before_seq: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT notification_id, kind, locale, title, body, created_at, read_at, seq FROM notifications
           WHERE member_id = $1 AND (NOT $2 OR read_at IS NULL) AND ($3::bigint IS NULL OR seq < $3)
           ORDER BY seq DESC LIMIT $4""",
        member_id,
        unread,
        before_seq,
        limit,
    )


async def mark_read(conn: Conn, member_id: str, notification_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE notifications SET read_at = COALESCE(read_at, now())
           WHERE member_id = $1 AND notification_id = $2 RETURNING notification_id, read_at""",
        member_id,
        notification_id,
    )


# ---------------------------------------------------------------- preferences


async def get_preferences_row(conn: Conn, member_id: str) -> tuple[Preferences, datetime] | None:
    row = await conn.fetchrow(
        """SELECT muted_kinds, quiet_start, quiet_end, timezone, updated_at FROM member_preferences
           WHERE member_id = $1""",
        member_id,
    )
    if row is None:
        return None
    prefs = Preferences(frozenset(row["muted_kinds"]), row["quiet_start"], row["quiet_end"], row["timezone"])
    return prefs, row["updated_at"]


async def get_preferences_many(conn: Conn, member_ids: Collection[str]) -> dict[str, Preferences]:
    """The preferences of those of these members who set any, by member (one statement)."""
    rows = await conn.fetch(
        """SELECT member_id, muted_kinds, quiet_start, quiet_end, timezone FROM member_preferences
           WHERE member_id = ANY($1::text[])""",
        list(member_ids),
    )
    return {
        r["member_id"]: Preferences(frozenset(r["muted_kinds"]), r["quiet_start"], r["quiet_end"], r["timezone"])
        for r in rows
    }


async def get_preferences(conn: Conn, member_id: str) -> Preferences | None:
    found = await get_preferences_row(conn, member_id)
    return found[0] if found else None


async def put_preferences(conn: Conn, member_id: str, prefs: Preferences) -> datetime:
    updated: datetime = await conn.fetchval(
        """INSERT INTO member_preferences (member_id, muted_kinds, quiet_start, quiet_end, timezone)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (member_id) DO UPDATE SET muted_kinds = EXCLUDED.muted_kinds,
               quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
               timezone = EXCLUDED.timezone, updated_at = now()
           RETURNING updated_at""",
        member_id,
        sorted(prefs.muted_kinds),
        prefs.quiet_start,
        prefs.quiet_end,
        prefs.timezone,
    )
    return updated


# ---------------------------------------------------------------- push deferred by quiet hours


async def defer_push(
    conn: Conn, *, notification_id: str, member_id: str, data: dict[str, Any], created_at: datetime, due_at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO deferred_pushes (notification_id, member_id, data, created_at, due_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (notification_id) DO NOTHING""",
        notification_id,
        member_id,
        data,
        created_at,
        due_at,
    )


class DeferredPush(NamedTuple):
    notification_id: str
    member_id: str
    data: dict[str, Any]
    created_at: datetime
    due_at: datetime


async def defer_pushes(conn: Conn, rows: Sequence[DeferredPush]) -> None:
    """`defer_push` for many, in one statement (nothing for none)."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO deferred_pushes (notification_id, member_id, data, created_at, due_at)
           SELECT notification_id, member_id, data::jsonb, created_at, due_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY
                AS u(notification_id, member_id, data, created_at, due_at, n)
           ORDER BY n
           ON CONFLICT (notification_id) DO NOTHING""",
        [r.notification_id for r in rows],
        [r.member_id for r in rows],
        [json.dumps(r.data) for r in rows],  # the pool's jsonb encoder (db.make_pool)
        [r.created_at for r in rows],
        [r.due_at for r in rows],
    )


async def take_due_pushes(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Remove and return pushes whose quiet period is over (another replica skips what this one took)."""
    return await conn.fetch(
        """DELETE FROM deferred_pushes WHERE notification_id IN (
               SELECT notification_id FROM deferred_pushes WHERE due_at <= now()
               ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING notification_id, member_id, data, EXTRACT(EPOCH FROM now() - created_at)::float8 AS waited_s""",
        limit,
    )


# ---------------------------------------------------------------- webhooks (operator)

_WEBHOOK_COLUMNS = """w.webhook_id, w.url, w.event_types, w.active, w.created_at, w.disabled_at,
    w.created_by, w.disabled_by, w.consecutive_failures, w.circuit_open_until,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id AND d.status = 'pending') AS pending,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id AND d.status = 'dead_lettered')
        AS dead_lettered"""


async def insert_webhook(
    conn: Conn, webhook_id: str, url: str, event_types: Sequence[str], secret: str, actor: str
) -> None:
    await conn.execute(
        "INSERT INTO webhooks (webhook_id, url, event_types, secret, created_by) VALUES ($1, $2, $3, $4, $5)",
        webhook_id,
        url,
        list(event_types),
        secret,
        actor,
    )


async def get_webhook(conn: Conn, webhook_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks w WHERE w.webhook_id = $1", webhook_id)


@dataclass(frozen=True, slots=True)
class WebhookFilter:
    include_disabled: bool = False
    circuits: Sequence[str] | None = None  # only those whose breaker is in one of these states
    attention: bool = False  # only those whose breaker is not closed or that have dead letters waiting


async def list_webhooks(
    conn: Conn,
    f: WebhookFilter,
    *,
    now: datetime,
    threshold: int,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Endpoints in registration order, keyset-paginated on (created_at, webhook_id).

    The breaker state is computed as webhooks.circuit() computes it (closed below `threshold` failures
    in a row, then open until circuit_open_until, then half-open), against the same `now`, so a filter
    on it and the state the API shows agree."""
    return await conn.fetch(
        f"""SELECT {_WEBHOOK_COLUMNS} FROM webhooks w
            WHERE (w.active OR $1)
              AND ($2::timestamptz IS NULL OR (w.created_at, w.webhook_id) > ($2, $3))
              AND ($4::text[] IS NULL OR (CASE WHEN w.consecutive_failures < $5 THEN 'closed'
                                               WHEN w.circuit_open_until > $6 THEN 'open'
                                               ELSE 'half_open' END) = ANY ($4))
              AND (NOT $7 OR w.consecutive_failures >= $5 OR EXISTS (
                  SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id AND d.status = 'dead_lettered'))
            ORDER BY w.created_at, w.webhook_id LIMIT $8""",
        f.include_disabled,
        after[0] if after else None,
        after[1] if after else "",
        list(f.circuits) if f.circuits is not None else None,
        threshold,
        now,
        f.attention,
        limit,
    )


async def disable_webhook(conn: Conn, webhook_id: str, actor: str) -> int | None:
    """Disable an endpoint and cancel what it still had to send; None if unknown. Returns how many.
    The first to disable it is who disabled it (disabling again changes nothing)."""
    found = await conn.fetchval(
        """UPDATE webhooks SET active = false, disabled_at = COALESCE(disabled_at, now()),
                  disabled_by = CASE WHEN disabled_at IS NULL THEN $2 ELSE disabled_by END
           WHERE webhook_id = $1 RETURNING webhook_id""",
        webhook_id,
        actor,
    )
    if found is None:
        return None
    status = await conn.execute(
        """UPDATE webhook_deliveries SET status = 'cancelled', lease_token = NULL, lease_until = NULL
           WHERE webhook_id = $1 AND status = 'pending'""",
        webhook_id,
    )
    return int(status.split()[-1])


async def webhooks_for(conn: Conn, event_type: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT webhook_id FROM webhooks WHERE active AND $1 = ANY(event_types) ORDER BY webhook_id", event_type
    )
    return [r["webhook_id"] for r in rows]


async def insert_delivery(
    conn: Conn,
    *,
    delivery_id: str,
    notification_id: str,
    webhook_id: str,
    member_id: str,
    kind: str,
    event_type: str,
    body: bytes,
    created_at: datetime,
    due_at: datetime,
) -> bool:
    status = await conn.execute(
        """INSERT INTO webhook_deliveries (delivery_id, notification_id, webhook_id, member_id, kind, event_type,
               body, created_at, next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING""",
        delivery_id,
        notification_id,
        webhook_id,
        member_id,
        kind,
        event_type,
        body,
        created_at,
        due_at,
    )
    return status.endswith("1")


class NewDelivery(NamedTuple):
    delivery_id: str
    notification_id: str
    webhook_id: str
    member_id: str
    kind: str
    event_type: str
    body: bytes
    created_at: datetime
    due_at: datetime


async def insert_deliveries(conn: Conn, rows: Sequence[NewDelivery]) -> None:
    """`insert_delivery` for many, in one statement and in order (their `seq`); nothing for none."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO webhook_deliveries (delivery_id, notification_id, webhook_id, member_id, kind, event_type,
               body, created_at, next_attempt_at)
           SELECT delivery_id, notification_id, webhook_id, member_id, kind, event_type, body, created_at, due_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[],
                       $8::timestamptz[], $9::timestamptz[]) WITH ORDINALITY
                AS u(delivery_id, notification_id, webhook_id, member_id, kind, event_type, body, created_at,
                     due_at, n)
           ORDER BY n
           ON CONFLICT DO NOTHING""",
        *([r[i] for r in rows] for i in range(9)),
    )


# ---------------------------------------------------------------- webhook delivery (the worker)


async def endpoints_with_due_deliveries(conn: Conn, max_attempts: int) -> list[asyncpg.Record]:
    """Active endpoints whose circuit lets a request through and that have something due.

    Locked (SKIP LOCKED) for the claiming transaction, so two replicas never claim for the same endpoint at
    once: that keeps a half-open endpoint to exactly one probe.
    """
    return await conn.fetch(
        """SELECT w.webhook_id, w.url, w.secret, w.consecutive_failures, w.circuit_open_until FROM webhooks w
           WHERE w.active AND (w.circuit_open_until IS NULL OR w.circuit_open_until <= now())
             AND (w.probe_until IS NULL OR w.probe_until <= now())
             AND EXISTS (SELECT 1 FROM webhook_deliveries d
                         WHERE d.webhook_id = w.webhook_id AND d.status = 'pending' AND d.next_attempt_at <= now()
                           AND (d.lease_until IS NULL OR d.lease_until <= now()) AND d.attempts < $1)
           ORDER BY w.webhook_id FOR NO KEY UPDATE OF w SKIP LOCKED""",
        max_attempts,
    )


async def claim_deliveries(
    conn: Conn, webhook_id: str, *, token: str, lease_s: float, limit: int, max_attempts: int
) -> list[asyncpg.Record]:
    """Lease up to `limit` due deliveries of one endpoint; each claim counts as an attempt."""
    return await conn.fetch(
        """UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_token = $2::uuid,
               lease_until = now() + make_interval(secs => $3)
           WHERE d.delivery_id IN (
               SELECT delivery_id FROM webhook_deliveries
               WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at <= now()
                 AND (lease_until IS NULL OR lease_until <= now()) AND attempts < $5
               ORDER BY next_attempt_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED)
           RETURNING d.delivery_id, d.notification_id, d.webhook_id, d.body, d.attempts""",
        webhook_id,
        token,
        lease_s,
        limit,
        max_attempts,
    )


async def start_probe(conn: Conn, webhook_id: str, lease_s: float) -> None:
    await conn.execute(
        "UPDATE webhooks SET probe_until = now() + make_interval(secs => $2) WHERE webhook_id = $1",
        webhook_id,
        lease_s,
    )


async def dead_letter_abandoned(conn: Conn, max_attempts: int) -> list[asyncpg.Record]:
    """Dead-letter deliveries whose last allowed attempt was claimed but never recorded (the worker died)."""
    return await conn.fetch(
        """UPDATE webhook_deliveries SET status = 'dead_lettered', dead_lettered_at = now(), lease_token = NULL,
               lease_until = NULL, last_error = 'the last attempt ended without a recorded result'
           WHERE status = 'pending' AND attempts >= $1 AND (lease_until IS NULL OR lease_until <= now())
           RETURNING delivery_id""",
        max_attempts,
    )


_RELEASE = "lease_token = NULL, lease_until = NULL, last_status = $3, last_error = $4"
_MINE = "WHERE delivery_id = $1 AND lease_token = $2::uuid AND status = 'pending'"


async def record_delivered(conn: Conn, delivery_id: str, token: str, status: int) -> float | None:
    """Seconds from the notification's creation to now; None if the lease was lost (someone else records)."""
    latency: float | None = await conn.fetchval(
        f"""UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), {_RELEASE} {_MINE}
            RETURNING EXTRACT(EPOCH FROM now() - created_at)::float8""",
        delivery_id,
        token,
        status,
        None,
    )
    return latency


async def record_retry(
    conn: Conn, delivery_id: str, token: str, status: int | None, error: str, delay_s: float
) -> bool:
    done = await conn.fetchval(
        f"""UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $5), {_RELEASE} {_MINE}
            RETURNING 1""",
        delivery_id,
        token,
        status,
        error,
        delay_s,
    )
    return done is not None


async def record_dead_letter(conn: Conn, delivery_id: str, token: str, status: int | None, error: str) -> bool:
    done = await conn.fetchval(
        f"""UPDATE webhook_deliveries SET status = 'dead_lettered', dead_lettered_at = now(), {_RELEASE} {_MINE}
            RETURNING 1""",
        delivery_id,
        token,
        status,
        error,
    )
    return done is not None


async def lock_breaker(conn: Conn, webhook_id: str) -> tuple[int, datetime]:
    """The endpoint's failures in a row, locked until the caller commits, and the database's clock."""
    row = await conn.fetchrow(
        "SELECT consecutive_failures, now() AS now FROM webhooks WHERE webhook_id = $1 FOR NO KEY UPDATE", webhook_id
    )
    assert row is not None  # deliveries reference their webhook, and webhooks are never deleted
    return row["consecutive_failures"], row["now"]


async def set_breaker(conn: Conn, webhook_id: str, failures: int, open_until: datetime | None) -> None:
    await conn.execute(
        """UPDATE webhooks SET consecutive_failures = $2, circuit_open_until = $3, probe_until = NULL
           WHERE webhook_id = $1""",
        webhook_id,
        failures,
        open_until,
    )


async def breaker_states(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT webhook_id, consecutive_failures, circuit_open_until, now() AS now FROM webhooks WHERE active"
    )


async def count_dead_letters(conn: Conn) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'dead_lettered'")
    return n


# ---------------------------------------------------------------- dead letters (operator)


async def list_dead_letters(conn: Conn, webhook_id: str, *, before_seq: int | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT delivery_id, notification_id, webhook_id, member_id, kind, event_type, attempts, last_status,
                  last_error, created_at, dead_lettered_at, redriven, redriven_by, seq
           FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'dead_lettered'
             AND ($2::bigint IS NULL OR seq < $2)
           ORDER BY seq DESC LIMIT $3""",
        webhook_id,
        before_seq,
        limit,
    )


async def redrive(conn: Conn, webhook_id: str, delivery_id: str | None, actor: str) -> list[str]:
    """Put dead letters of an endpoint (one, or all) back to pending with a fresh set of attempts."""
    rows = await conn.fetch(
        """UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),
               dead_lettered_at = NULL, redriven = redriven + 1, redriven_by = $3
           WHERE webhook_id = $1 AND status = 'dead_lettered' AND ($2::text IS NULL OR delivery_id = $2)
           RETURNING delivery_id""",
        webhook_id,
        delivery_id,
        actor,
    )
    return [r["delivery_id"] for r in rows]


async def delivery_status(conn: Conn, webhook_id: str, delivery_id: str) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM webhook_deliveries WHERE webhook_id = $1 AND delivery_id = $2", webhook_id, delivery_id
    )
    return status


async def database_now(conn: Conn) -> datetime:
    """The database's clock (breaker times are the database's, so the API reads them against it)."""
    value = await conn.fetchval("SELECT now()")
    assert isinstance(value, datetime)
    return value
