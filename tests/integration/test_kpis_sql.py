"""The department KPI query (reports/department_kpis.sql) against its pure definition (kpis.tally), on
random histories written the way the reports service writes them: reports and needs, transfers,
reopenings, rejections, ratings per resolution, several districts, windows of every size.

Also the 0003 migration's backfill on a database that already holds version 1 reports."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from importlib import resources

import asyncpg
import pytest
from incentives_kernel.db import Migration, load_migrations, make_pool, migrate, migrations_dir
from reports.kpis import Case, CaseRating, Step, Tally, Window, tally
from reports.lifecycle import IllegalTransition, Kind, holder_after, rate, transition

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SQL = (resources.files("reports") / "department_kpis.sql").read_text(encoding="utf-8")
T0 = datetime(2026, 12, 1, tzinfo=UTC)
DEPARTMENTS = ["D1", "D2", "D3", "消防 Fire brigade"]
DISTRICTS = ["nanqu", "beiqu", None]
STATUSES = ["dispatched", "accepted", "resolved", "rejected", "reopened"]


def random_case(rnd: random.Random, n: int) -> Case:
    kind = Kind.REPORT if rnd.random() < 0.6 else Kind.NEED
    submitted = T0 + timedelta(hours=rnd.uniform(-20 * 24, 40 * 24))
    status, holder, verified, reopened, rated_round = "submitted", None, False, 0, None
    at = submitted
    steps = [Step("submitted", None, at)]
    ratings: list[CaseRating] = []
    for _ in range(rnd.randint(0, 8)):
        at += timedelta(hours=rnd.expovariate(1 / 30))
        if status == "resolved" and rnd.random() < 0.4:
            rating = rate(status, reopened=reopened, rated_round=rated_round, kind=kind)
            if rating.record:
                ratings.append(CaseRating(rnd.randint(1, 5), holder, at))
                rated_round = reopened
            continue
        new = rnd.choice(STATUSES)
        department = rnd.choice([None, *DEPARTMENTS])
        reason = {
            "rejected": rnd.choice(["duplicate", "out_of_scope"]),
            "reopened": rnd.choice(["rework", "bad_rating", "other"]),
        }.get(new)
        try:
            t = transition(
                status,
                new,
                reason,
                verified=verified,
                duplicate=False,
                kind=kind,
                department=department,
                current_department=holder,
            )
        except IllegalTransition:
            continue
        if not t.changes:
            continue
        holder = holder_after(holder, department)
        status, verified = t.new_status, verified or t.verifies
        reopened += t.move == "reopen"
        steps.append(Step(status, holder, at))
    return Case(
        kind=kind.value,
        case_id=f"{kind.value[0]}-{n}",
        district=rnd.choice(DISTRICTS),
        submitted_at=submitted,
        due_at=submitted + timedelta(days=rnd.choice([2, 7])),
        steps=tuple(steps),
        ratings=tuple(ratings),
    )


async def store(conn: asyncpg.Connection, cases: list[Case]) -> None:
    for c in cases:
        final = c.steps[-1]
        if c.kind == "report":
            await conn.execute(
                """INSERT INTO reports (report_id, member_id, category, lat, lon, submitted_at, cell_lat, cell_lon,
                                        due_at, status, held_by, district, district_source)
                   VALUES ($1, 'm-1', 'sanitation', 31.2, 121.4, $2, 31200, 121400, $3, $4, $5, $6, 'location')""",
                c.case_id,
                c.submitted_at,
                c.due_at,
                final.status,
                final.held_by,
                c.district,
            )
        else:
            await conn.execute(
                """INSERT INTO needs (need_id, member_id, category, description, submitted_at, due_at, status,
                                      held_by, district)
                   VALUES ($1, 'm-1', 'childcare', '暑期托管', $2, $3, $4, $5, $6)""",
                c.case_id,
                c.submitted_at,
                c.due_at,
                final.status,
                final.held_by,
                c.district,
            )
        table, key = (
            ("report_status_history", "report_id") if c.kind == "report" else ("need_status_history", "need_id")
        )
        await conn.executemany(
            f"""INSERT INTO {table} ({key}, status, department, held_by, changed_at, event_source, event_id)
                VALUES ($1, $2, $3, $3, $4, '/test', $5)""",
            [(c.case_id, s.status, s.held_by, s.at, f"{c.case_id}-{i}") for i, s in enumerate(c.steps)],
        )
        await conn.executemany(
            """INSERT INTO case_ratings (kind, case_id, round, rating, department, earns_point, rated_at,
                                         event_source, event_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, '/test', $8)""",
            [
                (c.kind, c.case_id, i, r.rating, r.department, i == 0, r.at, f"{c.case_id}-r{i}")
                for i, r in enumerate(c.ratings)
            ],
        )


async def query(conn: asyncpg.Connection, window: Window, district: str | None) -> dict[str, Tally]:
    rows = await conn.fetch(SQL, window.start, window.end, district)
    return {
        r["department"]: Tally(
            received=r["received"],
            resolved=r["resolved"],
            rejected=r["rejected"],
            resolved_on_time=r["resolved_on_time"],
            overdue_open=r["overdue_open"],
            reopened=r["reopened"],
            ratings=r["ratings"],
            rating_sum=r["rating_sum"],
            median_hours=r["median_hours"],
        )
        for r in rows
    }


def comparable(t: dict[str, Tally]) -> dict[str, tuple]:
    return {
        d: (
            x.received,
            x.resolved,
            x.rejected,
            x.resolved_on_time,
            x.overdue_open,
            x.reopened,
            x.ratings,
            x.rating_sum,
            None if x.median_hours is None else pytest.approx(x.median_hours, abs=1e-9),
        )
        for d, x in t.items()
    }


async def test_the_kpi_query_computes_what_the_definition_says(scratch_dsn: str) -> None:
    rnd = random.Random(20261205)
    cases = [random_case(rnd, n) for n in range(400)]
    assert sum(len(c.steps) > 3 for c in cases) > 50  # the histories are not trivial
    pool = await make_pool(scratch_dsn, "reports", min_size=1, max_size=1, application_name="kpi-sql-test")
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "reports", load_migrations(migrations_dir("reports")))
            await store(conn, cases)
            windows = [
                Window(T0, T0 + timedelta(days=30)),
                Window(T0 - timedelta(days=30), T0 + timedelta(days=90)),
                Window(T0 + timedelta(days=3), T0 + timedelta(days=4)),
                Window(T0 + timedelta(days=10, hours=5), T0 + timedelta(days=17, hours=3)),
            ]
            windows += [
                Window(start, start + timedelta(hours=rnd.uniform(1, 24 * 20)))
                for start in (T0 + timedelta(hours=rnd.uniform(-24 * 20, 24 * 40)) for _ in range(6))
            ]
            compared = 0
            for window in windows:
                for district in ("nanqu", "beiqu", None):
                    expected = tally(cases, window, district=district)
                    assert comparable(await query(conn, window, district)) == comparable(expected), (window, district)
                    compared += sum(
                        x.received + x.resolved + x.overdue_open + x.reopened + x.ratings for x in expected.values()
                    )
            assert compared > 1000  # the comparison saw real figures, not empty tables
    finally:
        await pool.close()


async def test_migration_0003_backfills_version_1_reports(scratch_dsn: str) -> None:
    """A database with version 1 reports (history, a rating): after 0003 they keep their reporter's
    district (marked 'member'), their department holds them, and their rating is kept as round 0."""
    all_migrations = load_migrations(migrations_dir("reports"))
    # Version 1: the kernel's tables and reports' migrations before 0003 (later ones need 0003's tables).
    before = [m for m in all_migrations if m.name.startswith("kernel/") or m.name < "0003"]
    assert any(m.name.startswith("0002") for m in before)
    pool = await make_pool(scratch_dsn, "reports", min_size=1, max_size=1, application_name="kpi-sql-test")
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "reports", before)
            await conn.execute("""INSERT INTO members (member_id, district, occupation, registered_at, as_of)
                                  VALUES ('m-1', 'beiqu', 'courier', now(), now())""")
            for rid, member in (("r-1", "m-1"), ("r-2", "m-unknown")):
                await conn.execute(
                    """INSERT INTO reports (report_id, member_id, category, lat, lon, submitted_at, cell_lat, cell_lon,
                                            due_at)
                       VALUES ($1, $2, 'sanitation', 31.21, 121.42, $3, 31210, 121420, $4)""",
                    rid,
                    member,
                    T0,
                    T0 + timedelta(days=7),
                )
            history = [("submitted", None), ("dispatched", "环卫"), ("accepted", None), ("resolved", None)]
            await conn.executemany(
                """INSERT INTO report_status_history (report_id, status, department, changed_at, event_source, event_id)
                   VALUES ('r-1', $1, $2, $3, '/test', $4)""",
                [(s, d, T0 + timedelta(hours=i), f"e{i}") for i, (s, d) in enumerate(history)],
            )
            await conn.execute(
                """UPDATE reports SET status = 'resolved', department = '环卫', rating = 4, rated_at = $1
                   WHERE report_id = 'r-1'""",
                T0 + timedelta(days=1),
            )

            applied = [m.name for m in await _apply(conn, all_migrations)]
            assert applied == [m.name for m in all_migrations if m not in before]
            assert applied[0] == "0003_needs_departments_places.sql"

            rows = {
                r["report_id"]: dict(r)
                for r in await conn.fetch(
                    "SELECT report_id, district, grid_id, district_source, held_by, reopened_count FROM reports"
                )
            }
            assert rows["r-1"] == {
                "report_id": "r-1",
                "district": "beiqu",
                "grid_id": None,
                "district_source": "member",
                "held_by": "环卫",
                "reopened_count": 0,
            }
            assert (rows["r-2"]["district"], rows["r-2"]["district_source"]) == (None, "member")
            held = await conn.fetch("SELECT status, held_by FROM report_status_history ORDER BY id")
            assert [(h["status"], h["held_by"]) for h in held] == [
                ("submitted", None),
                ("dispatched", "环卫"),
                ("accepted", "环卫"),
                ("resolved", "环卫"),
            ]
            rating = await conn.fetchrow("SELECT * FROM case_ratings")
            assert (rating["kind"], rating["case_id"], rating["round"], rating["rating"]) == ("report", "r-1", 0, 4)
            assert (rating["department"], rating["earns_point"]) == ("环卫", True)
            # The KPI query reads the backfilled history: 环卫 received, resolved on time, was rated 4.
            kpis = await query(conn, Window(T0, T0 + timedelta(days=2)), None)
            assert (kpis["环卫"].received, kpis["环卫"].resolved_on_time, kpis["环卫"].rating_sum) == (1, 1, 4)
            # A second point-earning rating of the same case is refused by the schema itself.
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(
                    """INSERT INTO case_ratings (kind, case_id, round, rating, earns_point, rated_at, event_source,
                                                 event_id)
                       VALUES ('report', 'r-1', 1, 5, true, now(), '/test', 'x')"""
                )
    finally:
        await pool.close()


async def _apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    names = set(await migrate(conn, "reports", migrations))
    return [m for m in migrations if m.name in names]
