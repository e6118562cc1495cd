"""Every SQL statement of the notify service."""

from __future__ import annotations

import asyncpg
from incentives_kernel.db import Conn


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
) -> asyncpg.Record | None:
    """Store an inbox notification; None if it exists already (one per event, member and channel)."""
    return await conn.fetchrow(
        """INSERT INTO notifications (notification_id, member_id, kind, locale, title, body, source_event)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (notification_id) DO NOTHING
           RETURNING created_at""",
        notification_id,
        member_id,
        kind,
        locale,
        title,
        body,
        source_event,
    )


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
