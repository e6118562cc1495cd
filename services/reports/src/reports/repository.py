"""Every SQL statement of the reports service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from incentives_kernel.db import Conn
from incentives_kernel.events import ReportSubmitted

from .duplicates import cell


async def insert_report(
    conn: Conn,
    r: ReportSubmitted,
    *,
    due_at: datetime,
    duplicate_of: str | None,
    photo_reused_from: str | None,
) -> bool:
    row, col = cell(r.location.lat, r.location.lon)
    status = await conn.execute(
        """INSERT INTO reports (report_id, member_id, category, description, lat, lon, address, photos, submitted_at,
                                cell_lat, cell_lon, due_at, duplicate_of, photo_reused_from)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (report_id) DO NOTHING""",
        r.report_id,
        r.member_id,
        r.category.value,
        r.description,
        r.location.lat,
        r.location.lon,
        r.location.address,
        [p.model_dump(mode="json") for p in r.photos],
        r.submitted_at,
        row,
        col,
        due_at,
        duplicate_of,
        photo_reused_from,
    )
    if status.endswith("1"):
        await conn.executemany(
            "INSERT INTO report_photos (sha256, report_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(p.sha256.lower(), r.report_id) for p in r.photos if p.sha256],
        )
    return status.endswith("1")


async def open_reports_near(
    conn: Conn, category: str, rows: list[int], cols: list[int], since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Open reports of a category in the given grid cells, submitted in [since, until] (index: cells)."""
    return await conn.fetch(
        """SELECT report_id, lat, lon, submitted_at FROM reports
           WHERE category = $1 AND cell_lat = ANY($2::int[]) AND cell_lon = ANY($3::int[])
             AND submitted_at >= $4 AND submitted_at <= $5 AND status NOT IN ('resolved', 'rejected')
           ORDER BY submitted_at, report_id""",
        category,
        rows,
        cols,
        since,
        until,
    )


async def report_with_photo(conn: Conn, hashes: list[str], other_than: str) -> str | None:
    found = await conn.fetchval(
        "SELECT report_id FROM report_photos WHERE sha256 = ANY($1::text[]) AND report_id <> $2 LIMIT 1",
        hashes,
        other_than,
    )
    return str(found) if found else None


async def member_district(conn: Conn, member_id: str) -> str | None:
    district = await conn.fetchval("SELECT district FROM members WHERE member_id = $1", member_id)
    return str(district) if district else None


async def add_points_earned(conn: Conn, report_id: str, delta: int) -> None:
    await conn.execute("UPDATE reports SET points_earned = points_earned + $2 WHERE report_id = $1", report_id, delta)


async def due_reports(conn: Conn, now: datetime, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT r.*, m.district FROM reports r LEFT JOIN members m USING (member_id)
           WHERE r.status NOT IN ('resolved', 'rejected') AND r.overdue_at IS NULL AND r.due_at <= $1
           ORDER BY r.due_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED""",
        now,
        limit,
    )


async def mark_overdue(conn: Conn, report_id: str, now: datetime) -> None:
    await conn.execute("UPDATE reports SET overdue_at = $2 WHERE report_id = $1", report_id, now)


async def overdue_counts(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT COALESCE(m.district, 'unknown') AS district, r.category, count(*) AS n
           FROM reports r LEFT JOIN members m USING (member_id)
           WHERE r.overdue_at IS NOT NULL AND r.status NOT IN ('resolved', 'rejected')
           GROUP BY 1, 2"""
    )


async def department_ratings(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT department, avg(rating)::float AS average, count(*) AS n FROM reports
           WHERE rating IS NOT NULL AND department IS NOT NULL GROUP BY department"""
    )


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
             AND ($4::timestamptz IS NULL OR (r.status NOT IN ('resolved', 'rejected') AND r.due_at < $4))
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
