"""Every SQL statement of the reports service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from incentives_kernel.db import Conn
from incentives_kernel.events import ReportSubmitted


async def insert_report(conn: Conn, r: ReportSubmitted) -> bool:
    status = await conn.execute(
        """INSERT INTO reports (report_id, member_id, category, description, lat, lon, address, photos, submitted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (report_id) DO NOTHING""",
        r.report_id,
        r.member_id,
        r.category.value,
        r.description,
        r.location.lat,
        r.location.lon,
        r.location.address,
        [p.model_dump(mode="json") for p in r.photos],
        r.submitted_at,
    )
    return status.endswith("1")


async def lock_report(conn: Conn, report_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM reports WHERE report_id = $1 FOR UPDATE", report_id)


async def set_status(
    conn: Conn,
    report_id: str,
    status: str,
    *,
    reason: str | None,
    department: str | None,
    verified_at: datetime | None,
    reversed_at: datetime | None,
) -> None:
    await conn.execute(
        """UPDATE reports SET status = $2, rejection_reason = COALESCE($3, rejection_reason),
               department = COALESCE($4, department), verified_at = COALESCE(verified_at, $5),
               reversed_at = COALESCE(reversed_at, $6), updated_at = now()
           WHERE report_id = $1""",
        report_id,
        status,
        reason,
        department,
        verified_at,
        reversed_at,
    )


async def add_history(
    conn: Conn,
    report_id: str,
    status: str,
    *,
    reason: str | None,
    department: str | None,
    note: str | None,
    changed_at: datetime,
    source: str,
    event_id: str,
) -> None:
    await conn.execute(
        """INSERT INTO report_status_history (report_id, status, reason, department, note, changed_at,
                                              event_source, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        report_id,
        status,
        reason,
        department,
        note,
        changed_at,
        source,
        event_id,
    )


async def set_rating(conn: Conn, report_id: str, rating: int, rated_at: datetime) -> None:
    await conn.execute(
        "UPDATE reports SET rating = $2, rated_at = $3, updated_at = now() WHERE report_id = $1",
        report_id,
        rating,
        rated_at,
    )


async def get_report(conn: Conn, report_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT r.*, m.district FROM reports r LEFT JOIN members m USING (member_id)
           WHERE r.report_id = $1""",
        report_id,
    )


async def history(conn: Conn, report_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT status, reason, department, note, changed_at FROM report_status_history
           WHERE report_id = $1 ORDER BY id""",
        report_id,
    )


async def list_reports(
    conn: Conn,
    *,
    member_id: str | None,
    status: str | None,
    district: str | None,
    overdue_before: datetime | None,
    after: list[Any] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (submitted_at, report_id)."""
    return await conn.fetch(
        """SELECT r.*, m.district FROM reports r LEFT JOIN members m USING (member_id)
           WHERE ($1::text IS NULL OR r.member_id = $1)
             AND ($2::text IS NULL OR r.status = $2)
             AND ($3::text IS NULL OR m.district = $3)
             AND ($4::timestamptz IS NULL OR (r.status NOT IN ('resolved', 'rejected') AND r.submitted_at < $4))
             AND ($5::timestamptz IS NULL OR (r.submitted_at, r.report_id) < ($5, $6))
           ORDER BY r.submitted_at DESC, r.report_id DESC LIMIT $7""",
        member_id,
        status,
        district,
        overdue_before,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
