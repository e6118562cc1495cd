"""Overdue reports: announced once when their SLA passes; gauges of what is overdue and how departments rate.

`overdue_once` takes `now` as an argument, so a test controls the clock; the service's sweep passes
the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import structlog
from incentives_kernel import outbox, topics
from incentives_kernel.db import Conn
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.events import ReportCategory, ReportOverdue

from . import repository as repo
from .metrics import ReportsMetrics

log = structlog.get_logger(__name__)

SOURCE = "/incentives/reports"


async def overdue_once(conn: Conn, now: datetime, metrics: ReportsMetrics, batch: int = 500) -> int:
    """Mark and announce the open reports whose SLA has passed by `now`; refresh the gauges."""
    async with conn.transaction():
        due = await repo.due_reports(conn, now, batch)
        for r in due:
            await repo.mark_overdue(conn, r["report_id"], now)
            data = ReportOverdue(
                report_id=r["report_id"],
                member_id=r["member_id"],
                category=ReportCategory(r["category"]),
                district=r["district"] or "unknown",
                department=r["department"],
                status=r["status"],
                submitted_at=r["submitted_at"],
                due_at=r["due_at"],
                overdue_at=now,
            )
            await outbox.emit(
                conn,
                topic=topics.REPORTS_LIFECYCLE,
                key=r["member_id"],
                source=SOURCE,
                type="report.overdue",
                subject=r["report_id"],
                data=data,
                time=now,
                event_id=derived_event_id("report.overdue", r["report_id"]),
            )
    if due:
        metrics.overdue_announced.inc(len(due))
    await refresh_gauges(conn, metrics)
    return len(due)


async def refresh_gauges(conn: Conn, metrics: ReportsMetrics) -> None:
    metrics.overdue.clear()
    for row in await repo.overdue_counts(conn):
        metrics.overdue.labels(row["district"], row["category"]).set(row["n"])
    metrics.department_rating.clear()
    for row in await repo.department_ratings(conn):
        metrics.department_rating.labels(row["department"][:64]).set(row["average"])


async def sweep(
    pool: Callable[[], asyncpg.Pool], metrics: ReportsMetrics, every_s: float, on_commit: Callable[[], None]
) -> None:
    """Forever: announce what became overdue (an overdue report is announced once)."""
    while True:
        try:
            async with pool().acquire() as conn:
                if await overdue_once(conn, datetime.now(UTC), metrics):
                    on_commit()
        except Exception as exc:  # the next round retries
            log.warning("overdue sweep failed", error=type(exc).__name__)
        await asyncio.sleep(every_s)
