"""Every SQL statement of the reports service: reports, needs (one set of statements for both kinds of
case, by the fixed table names below), history, ratings, departments and the KPI tallies.

Not here: deciding anything (usecases.py and lifecycle.py decide, overdue.py sweeps), the kernel's own
tables (inbox, outbox, members, parked events, dead letters: the kernel's modules), HTTP.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from incentives_kernel.db import Conn
from incentives_kernel.events import NeedSubmitted, ReportSubmitted

from .areas import BBox, Placement
from .duplicates import cell


async def insert_report(
    conn: Conn,
    r: ReportSubmitted,
    *,
    due_at: datetime,
    duplicate_of: str | None,
    photo_reused_from: str | None,
    placed: Placement,
) -> bool:
    row, col = cell(r.location.lat, r.location.lon)
    status = await conn.execute(
        """INSERT INTO reports (report_id, member_id, category, description, lat, lon, address, photos, submitted_at,
                                cell_lat, cell_lon, due_at, duplicate_of, photo_reused_from,
                                district, grid_id, district_source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
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
        placed.district,
        placed.grid_id,
        placed.district_source,
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


async def fill_member_district(conn: Conn, member_id: str, district: str) -> None:
    """Cases placed by their member's district before reports knew the member get it now (never re-placed)."""
    for kind in ("report", "need"):
        await conn.execute(
            f"""UPDATE {TABLE[kind]} SET district = $2
                WHERE member_id = $1 AND district IS NULL AND district_source = 'member'""",
            member_id,
            district,
        )


async def add_points_earned(conn: Conn, report_id: str, delta: int) -> None:
    await conn.execute("UPDATE reports SET points_earned = points_earned + $2 WHERE report_id = $1", report_id, delta)


# ------------------------------------------------------------------------ both kinds of case
# A report and a need share their shape; these name the tables of each (fixed strings, never input).
TABLE = {"report": "reports", "need": "needs"}
HISTORY = {"report": "report_status_history", "need": "need_status_history"}
KEY = {"report": "report_id", "need": "need_id"}


async def lock_case(conn: Conn, kind: str, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {TABLE[kind]} WHERE {KEY[kind]} = $1 FOR UPDATE", case_id)


async def set_status(
    conn: Conn,
    kind: str,
    case_id: str,
    status: str,
    *,
    reason: str | None,
    department: str | None,
    held_by: str | None,
    reopened: bool,
    verified_at: datetime | None = None,
    reversed_at: datetime | None = None,
) -> None:
    """Apply a step. A reopening clears the overdue announcement: the reopened case may become overdue again."""
    extra = (
        ", verified_at = COALESCE(verified_at, $7), reversed_at = COALESCE(reversed_at, $8)" if kind == "report" else ""
    )
    args: list[Any] = [case_id, status, reason, department, held_by, reopened]
    if kind == "report":
        args += [verified_at, reversed_at]
    await conn.execute(
        f"""UPDATE {TABLE[kind]} SET status = $2, rejection_reason = COALESCE($3, rejection_reason),
               department = COALESCE($4, department), held_by = $5,
               reopened_count = reopened_count + CASE WHEN $6 THEN 1 ELSE 0 END,
               overdue_at = CASE WHEN $6 THEN NULL ELSE overdue_at END,
               updated_at = now(){extra}
           WHERE {KEY[kind]} = $1""",
        *args,
    )


async def add_history(
    conn: Conn,
    kind: str,
    case_id: str,
    status: str,
    *,
    reason: str | None,
    department: str | None,
    held_by: str | None,
    note: str | None,
    changed_at: datetime,
    source: str,
    event_id: str,
) -> None:
    await conn.execute(
        f"""INSERT INTO {HISTORY[kind]} ({KEY[kind]}, status, reason, department, held_by, note, changed_at,
                                         event_source, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        case_id,
        status,
        reason,
        department,
        held_by,
        note,
        changed_at,
        source,
        event_id,
    )


async def history(conn: Conn, kind: str, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT status, reason, department, held_by, note, changed_at FROM {HISTORY[kind]}
           WHERE {KEY[kind]} = $1 ORDER BY id""",
        case_id,
    )


async def latest_rating_round(conn: Conn, kind: str, case_id: str) -> int | None:
    found = await conn.fetchval("SELECT max(round) FROM case_ratings WHERE kind = $1 AND case_id = $2", kind, case_id)
    return int(found) if found is not None else None


async def add_rating(
    conn: Conn,
    kind: str,
    case_id: str,
    *,
    round_: int,
    rating: int,
    comment: str,
    department: str | None,
    earns_point: bool,
    rated_at: datetime,
    source: str,
    event_id: str,
) -> bool:
    status = await conn.execute(
        """INSERT INTO case_ratings (kind, case_id, round, rating, comment, department, earns_point, rated_at,
                                     event_source, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING""",
        kind,
        case_id,
        round_,
        rating,
        comment,
        department,
        earns_point,
        rated_at,
        source,
        event_id,
    )
    if status.endswith("1"):
        await conn.execute(
            f"UPDATE {TABLE[kind]} SET rating = $2, rated_at = $3, updated_at = now() WHERE {KEY[kind]} = $1",
            case_id,
            rating,
            rated_at,
        )
    return status.endswith("1")


async def ratings(conn: Conn, kind: str, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT round, rating, comment, department, earns_point, rated_at FROM case_ratings
           WHERE kind = $1 AND case_id = $2 ORDER BY round""",
        kind,
        case_id,
    )


async def get_case(conn: Conn, kind: str, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {TABLE[kind]} WHERE {KEY[kind]} = $1", case_id)


async def list_cases(
    conn: Conn,
    kind: str,
    *,
    member_id: str | None = None,
    status: str | None = None,
    district: str | None = None,
    grid_id: str | None = None,
    department: str | None = None,
    overdue_before: datetime | None = None,
    bbox: BBox | None = None,
    after: list[Any] | None = None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (submitted_at, id). `department` is the holder's key."""
    key = KEY[kind]
    return await conn.fetch(
        f"""SELECT * FROM {TABLE[kind]}
           WHERE ($1::text IS NULL OR member_id = $1)
             AND ($2::text IS NULL OR status = $2)
             AND ($3::text IS NULL OR district = $3)
             AND ($4::text IS NULL OR grid_id = $4)
             AND ($5::text IS NULL OR held_by = $5)
             AND ($6::timestamptz IS NULL OR (status NOT IN ('resolved', 'rejected') AND due_at < $6))
             AND ($7::float8 IS NULL OR point(lon, lat) <@ box(point($7, $8), point($9, $10)))
             AND ($11::timestamptz IS NULL OR (submitted_at, {key}) < ($11, $12))
           ORDER BY submitted_at DESC, {key} DESC LIMIT $13""",
        member_id,
        status,
        district,
        grid_id,
        department,
        overdue_before,
        bbox.min_lon if bbox else None,
        bbox.min_lat if bbox else None,
        bbox.max_lon if bbox else None,
        bbox.max_lat if bbox else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


# ------------------------------------------------------------------------ needs


async def insert_need(conn: Conn, n: NeedSubmitted, *, due_at: datetime, placed: Placement) -> bool:
    loc = n.location
    status = await conn.execute(
        """INSERT INTO needs (need_id, member_id, category, description, lat, lon, address, submitted_at, due_at,
                              district, grid_id, district_source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (need_id) DO NOTHING""",
        n.need_id,
        n.member_id,
        n.category.value,
        n.description,
        loc.lat if loc else None,
        loc.lon if loc else None,
        loc.address if loc else None,
        n.submitted_at,
        due_at,
        placed.district,
        placed.grid_id,
        placed.district_source,
    )
    return status.endswith("1")


# ------------------------------------------------------------------------ overdue and gauges


async def due_cases(conn: Conn, kind: str, now: datetime, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT * FROM {TABLE[kind]}
           WHERE status NOT IN ('resolved', 'rejected') AND overdue_at IS NULL AND due_at <= $1
           ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )


async def mark_overdue(conn: Conn, kind: str, case_id: str, now: datetime) -> None:
    await conn.execute(f"UPDATE {TABLE[kind]} SET overdue_at = $2 WHERE {KEY[kind]} = $1", case_id, now)


async def overdue_counts(conn: Conn, kind: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT COALESCE(district, 'unknown') AS district, category, count(*) AS n
            FROM {TABLE[kind]}
            WHERE overdue_at IS NOT NULL AND status NOT IN ('resolved', 'rejected')
            GROUP BY 1, 2"""
    )


# ------------------------------------------------------------------------ departments


_DEPARTMENT_COLUMNS = "department_id, name, districts, origin, as_of, updated_at, updated_by"


async def departments(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_DEPARTMENT_COLUMNS} FROM departments ORDER BY department_id")


async def get_department(conn: Conn, department_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_DEPARTMENT_COLUMNS} FROM departments WHERE department_id = $1",
        department_id,
    )


async def department_key(conn: Conn, label: str) -> str:
    """The holder's key for a label a status names: the registered department whose id, else whose
    name, it is; any other label is an unregistered department, kept as it was sent."""
    found = await conn.fetchval(
        """SELECT department_id FROM departments WHERE department_id = $1 OR name = $1
           ORDER BY department_id = $1 DESC, department_id LIMIT 1""",
        label,
    )
    return str(found) if found is not None else label


async def upsert_department(
    conn: Conn, department_id: str, name: str, districts: list[str], *, origin: str, as_of: datetime, actor: str
) -> bool:
    """Create or update, recording who (`actor`) and when; a change older than the one applied (`as_of`)
    changes nothing and is not recorded (False)."""
    status = await conn.execute(
        """INSERT INTO departments (department_id, name, districts, origin, as_of, updated_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (department_id) DO UPDATE
               SET name = EXCLUDED.name, districts = EXCLUDED.districts, origin = EXCLUDED.origin,
                   as_of = EXCLUDED.as_of, updated_by = EXCLUDED.updated_by, updated_at = now()
               WHERE departments.as_of <= EXCLUDED.as_of""",
        department_id,
        name,
        districts,
        origin,
        as_of,
        actor,
    )
    if not status.endswith("1"):
        return False
    await conn.execute(
        """INSERT INTO department_changes (department_id, name, districts, origin, changed_by, as_of)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        department_id,
        name,
        districts,
        origin,
        actor,
        as_of,
    )
    return True


async def department_changes(conn: Conn, department_id: str) -> list[asyncpg.Record]:
    """Every applied change of a department, oldest first: who, when, what it set."""
    return await conn.fetch(
        """SELECT name, districts, origin, changed_by, as_of, changed_at FROM department_changes
           WHERE department_id = $1 ORDER BY change_id""",
        department_id,
    )


KPI_SQL = (Path(__file__).parent / "department_kpis.sql").read_text(encoding="utf-8")


async def department_tallies(conn: Conn, start: datetime, end: datetime, district: str | None) -> list[asyncpg.Record]:
    """The raw KPI figures per department (department_kpis.sql, checked against kpis.tally)."""
    return await conn.fetch(KPI_SQL, start, end, district)
