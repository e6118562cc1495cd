"""Overdue reports: announced once when their SLA passes; gauges of what is overdue and how departments rate.

`overdue_once` takes `now` as an argument, so a test controls the clock; the service's job
(jobs.py) passes the wall clock.
"""

from __future__ import annotations

from datetime import datetime

from incentives_kernel.events import ReportCategory, ReportOverdue
from incentives_kernel.uow import Work

from . import repository as repo
from .metrics import ReportsMetrics


async def overdue_once(work: Work, now: datetime, metrics: ReportsMetrics, batch: int = 500) -> int:
    """Mark and announce the open reports whose SLA has passed by `now`; refresh the gauges."""
    async with work() as uow:
        due = await repo.due_reports(uow.conn, now, batch)
        for r in due:
            await repo.mark_overdue(uow.conn, r["report_id"], now)
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
            uow.emit("report.overdue", r["member_id"], r["report_id"], data, id_from=(r["report_id"],), time=now)
        if due:
            uow.after_commit(lambda: metrics.overdue_announced.inc(len(due)))
        overdue = await repo.overdue_counts(uow.conn)
        ratings = await repo.department_ratings(uow.conn)
    metrics.overdue.clear()
    for row in overdue:
        metrics.overdue.labels(row["district"], row["category"]).set(row["n"])
    metrics.department_rating.clear()
    for row in ratings:
        metrics.department_rating.labels(row["department"][:64]).set(row["average"])
    return len(due)
