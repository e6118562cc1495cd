"""Overdue cases: announced once when their SLA passes; gauges of what is overdue and of each
department's KPIs (on-time rate, overdue open, average rating) over a trailing window.

`overdue_once` takes `now` as an argument, so a test controls the clock; the service's job
(jobs.py) passes the wall clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from incentives_kernel.events import NeedCategory, NeedOverdue, ReportCategory, ReportOverdue
from incentives_kernel.uow import Work

from . import kpis
from . import repository as repo
from .metrics import ReportsMetrics

UNREGISTERED = "unregistered"


async def overdue_once(work: Work, now: datetime, metrics: ReportsMetrics, batch: int = 500, kpi_days: int = 30) -> int:
    """Mark and announce the open reports and needs whose SLA has passed by `now`; refresh the gauges."""
    async with work() as uow:
        due = await repo.due_cases(uow.conn, "report", now, batch)
        for r in due:
            await repo.mark_overdue(uow.conn, "report", r["report_id"], now)
            data = ReportOverdue(
                report_id=r["report_id"],
                member_id=r["member_id"],
                category=ReportCategory(r["category"]),
                district=r["district"] or "unknown",
                grid_id=r["grid_id"],
                district_source=r["district_source"],
                department=r["department"],
                status=r["status"],
                submitted_at=r["submitted_at"],
                due_at=r["due_at"],
                overdue_at=now,
            )
            # A reopened report may become overdue again: the id names the round.
            id_from = (r["report_id"],) if not r["reopened_count"] else (r["report_id"], str(r["reopened_count"]))
            uow.emit("report.overdue", r["member_id"], r["report_id"], data, id_from=id_from, time=now)
        needs = await repo.due_cases(uow.conn, "need", now, batch)
        for n in needs:
            await repo.mark_overdue(uow.conn, "need", n["need_id"], now)
            nd = NeedOverdue(
                need_id=n["need_id"],
                member_id=n["member_id"],
                category=NeedCategory(n["category"]),
                district=n["district"] or "unknown",
                grid_id=n["grid_id"],
                district_source=n["district_source"],
                department=n["department"],
                status=n["status"],
                submitted_at=n["submitted_at"],
                due_at=n["due_at"],
                overdue_at=now,
            )
            uow.emit(
                "need.overdue",
                n["member_id"],
                n["need_id"],
                nd,
                id_from=("need", n["need_id"], str(n["reopened_count"])),
                time=now,
            )
        announced = len(due) + len(needs)
        if announced:
            uow.after_commit(lambda: metrics.overdue_announced.inc(announced))
        overdue = await repo.overdue_counts(uow.conn)
        registry = {r["department_id"] for r in await repo.departments(uow.conn)}
        tallies = await repo.department_tallies(uow.conn, now - timedelta(days=kpi_days), now, None)
    metrics.overdue.clear()
    for row in overdue:
        metrics.overdue.labels(row["district"], row["category"]).set(row["n"])
    _department_gauges(metrics, tallies, registry)
    return announced


def _department_gauges(metrics: ReportsMetrics, rows: list, registry: set[str]) -> None:  # type: ignore[type-arg]
    """One series per registered department (even at zero), the rest summed as unregistered."""
    merged: dict[str, kpis.Tally] = {d: kpis.Tally() for d in registry}
    for row in rows:
        label = row["department"] if row["department"] in registry else UNREGISTERED
        t = merged.setdefault(label, kpis.Tally())
        t.resolved += row["resolved"]
        t.resolved_on_time += row["resolved_on_time"]
        t.overdue_open += row["overdue_open"]
        t.ratings += row["ratings"]
        t.rating_sum += row["rating_sum"]
    for g in (metrics.department_on_time, metrics.department_resolved, metrics.department_overdue_open):
        g.clear()
    metrics.department_rating.clear()
    for label, t in merged.items():
        metrics.department_resolved.labels(label).set(t.resolved)
        metrics.department_overdue_open.labels(label).set(t.overdue_open)
        if t.resolved:
            metrics.department_on_time.labels(label).set(t.resolved_on_time / t.resolved)
        if t.ratings:
            metrics.department_rating.labels(label).set(t.rating_sum / t.ratings)
