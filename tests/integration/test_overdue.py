"""A report past its SLA is announced overdue exactly once, by a clock the test controls; gauges follow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.events import NeedSubmitted, ReportCategory, ReportSubmitted
from incentives_kernel.uow import source_of, units_of_work
from prometheus_client import CollectorRegistry
from reports import overdue
from reports import repository as repo
from reports.areas import Placement
from reports.metrics import ReportsMetrics
from reports.sla import NeedSla, Sla

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def report(report_id: str, category: str, at: datetime) -> ReportSubmitted:
    return ReportSubmitted.model_validate(
        {
            "report_id": report_id,
            "member_id": "m-1",
            "category": category,
            "location": {"lat": 31.2, "lon": 121.4},
            "submitted_at": at.isoformat(),
        }
    )


async def test_overdue_is_announced_once_per_report_with_per_category_slas(scratch_dsn: str) -> None:
    pool = await make_pool(scratch_dsn, "reports", min_size=1, max_size=2, application_name="overdue-test")
    registry = CollectorRegistry()
    metrics = ReportsMetrics(registry)
    sla = Sla(default_days=7, by_category={ReportCategory.FIRE_HAZARD: 2})
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    work = units_of_work(pool, source_of("reports"))
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "reports", load_migrations(migrations_dir("reports")))
            await conn.execute("""INSERT INTO members (member_id, district, occupation, registered_at, as_of)
                                  VALUES ('m-1', 'nanqu', 'courier', now(), now())""")
            for rid, category in (("r-fire", "fire_hazard"), ("r-road", "road_damage"), ("r-done", "road_damage")):
                data = report(rid, category, t0)
                await repo.insert_report(
                    conn,
                    data,
                    due_at=sla.due_at(t0, data.category),
                    duplicate_of=None,
                    photo_reused_from=None,
                    placed=Placement("nanqu", None, "member"),
                )
            # Roads (registered) resolved r-done on time; the rider rated it 4.
            await conn.execute(
                """INSERT INTO departments (department_id, name, origin, as_of)
                   VALUES ('roads', 'Roads', 'operator', now())"""
            )
            await conn.execute(
                "UPDATE reports SET status = 'resolved', department = 'Roads', held_by = 'roads', rating = 4 "
                "WHERE report_id = 'r-done'"
            )
            await conn.execute(
                """INSERT INTO report_status_history (report_id, status, department, held_by, changed_at,
                                                      event_source, event_id)
                   VALUES ('r-done', 'resolved', 'Roads', 'roads', $1, '/dispatch', 'e-1')""",
                t0 + timedelta(days=1),
            )
            await conn.execute(
                """INSERT INTO case_ratings (kind, case_id, round, rating, department, earns_point, rated_at,
                                             event_source, event_id)
                   VALUES ('report', 'r-done', 0, 4, 'roads', true, $1, '/gateway', 'e-2')""",
                t0 + timedelta(days=1, hours=1),
            )

            assert await overdue.overdue_once(work, t0 + timedelta(days=1), metrics) == 0
            assert await overdue.overdue_once(work, t0 + timedelta(days=3), metrics) == 1  # fire: 2-day SLA
            assert _sample(registry, "incentives_reports_overdue", district="nanqu", category="fire_hazard") == 1
            assert await overdue.overdue_once(work, t0 + timedelta(days=8), metrics) == 1  # road: 7 days
            assert await overdue.overdue_once(work, t0 + timedelta(days=30), metrics) == 0  # never twice
            assert _sample(registry, "incentives_reports_overdue", district="nanqu", category="road_damage") == 1
            assert _sample(registry, "incentives_reports_overdue_announced_total") == 2
            # Department gauges over the trailing 30 days: labels are registered ids only.
            assert _sample(registry, "incentives_reports_department_rating_average", department="roads") == 4.0
            assert _sample(registry, "incentives_department_on_time_rate", department="roads") == 1.0
            assert _sample(registry, "incentives_department_overdue_open", department="roads") == 0

            announced = [
                json.loads(r["value"])
                for r in await conn.fetch(
                    "SELECT value FROM outbox WHERE topic = 'incentives.reports.lifecycle.v1' ORDER BY id"
                )
            ]
            assert [(e["type"], e["subject"]) for e in announced] == [
                ("report.overdue", "r-fire"),
                ("report.overdue", "r-road"),
            ]
            # Ids derive from the report (and its round once reopened): a re-run announces the same id.
            assert [e["id"] for e in announced] == [
                derived_event_id("report.overdue", "r-fire"),
                derived_event_id("report.overdue", "r-road"),
            ]
            # A report resolved after being overdue leaves the gauge.
            await conn.execute("UPDATE reports SET status = 'resolved' WHERE report_id = 'r-fire'")
            await overdue.overdue_once(work, t0 + timedelta(days=31), metrics)
            assert _sample(registry, "incentives_reports_overdue", district="nanqu", category="fire_hazard") is None
    finally:
        await pool.close()


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels or None)


async def test_a_need_past_its_sla_is_announced_once_and_again_after_a_reopening(scratch_dsn: str) -> None:
    pool = await make_pool(scratch_dsn, "reports", min_size=1, max_size=2, application_name="overdue-needs")
    registry = CollectorRegistry()
    metrics = ReportsMetrics(registry)
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    work = units_of_work(pool, source_of("reports"))
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "reports", load_migrations(migrations_dir("reports")))
            need = NeedSubmitted.model_validate(
                {
                    "need_id": "n-1",
                    "member_id": "m-1",
                    "category": "legal_aid",
                    "description": "wages",
                    "submitted_at": t0.isoformat(),
                }
            )
            due = NeedSla(3).due_at(t0, need.category)
            await repo.insert_need(conn, need, due_at=due, placed=Placement("nanqu", None, "member"))
            assert await overdue.overdue_once(work, t0 + timedelta(days=2), metrics) == 0
            assert await overdue.overdue_once(work, t0 + timedelta(days=4), metrics) == 1
            assert await overdue.overdue_once(work, t0 + timedelta(days=5), metrics) == 0  # once
            assert _sample(registry, "incentives_needs_overdue", district="nanqu", category="legal_aid") == 1
            # Resolved, then reopened: open and late again, announced again (another event id).
            await repo.set_status(
                conn, "need", "n-1", "resolved", reason=None, department=None, held_by=None, reopened=False
            )
            await repo.set_status(
                conn, "need", "n-1", "reopened", reason=None, department=None, held_by=None, reopened=True
            )
            assert await overdue.overdue_once(work, t0 + timedelta(days=6), metrics) == 1
            await repo.set_status(
                conn, "need", "n-1", "resolved", reason=None, department=None, held_by=None, reopened=False
            )
            await overdue.overdue_once(work, t0 + timedelta(days=7), metrics)
            # Resolved: it leaves the gauge.
            assert _sample(registry, "incentives_needs_overdue", district="nanqu", category="legal_aid") is None
            announced = await conn.fetch(
                "SELECT event_id, value FROM outbox WHERE topic = 'incentives.reports.lifecycle.v1' ORDER BY id"
            )
            assert [json.loads(r["value"])["type"] for r in announced] == ["need.overdue", "need.overdue"]
            assert [r["event_id"] for r in announced] == [
                derived_event_id("need.overdue", "need", "n-1", round_) for round_ in ("0", "1")
            ]
    finally:
        await pool.close()
