"""Overdue cases: announced once when their SLA passes; gauges of what is overdue and of each
department's KPIs (on-time rate, overdue open, average rating) over a trailing window.

`overdue_once` takes `now` as an argument, so a test controls the clock; the service's job
(jobs.py) passes the wall clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from incentives_kernel.db import Row
from incentives_kernel.events import NeedCategory, NeedOverdue, ReportCategory, ReportOverdue
from incentives_kernel.uow import Work

from . import kpis
from . import repository as repo
from .metrics import ReportsMetrics

UNREGISTERED = "unregistered"


async def overdue_once(work: Work, now: datetime, metrics: ReportsMetrics, batch: int = 500, kpi_days: int = 30) -> int:
    """Mark and announce the open reports and needs whose SLA has passed by `now`; refresh the gauges."""
    async with work() as uow:
        announced = 0
        for kind in ("report", "need"):
            for case in await repo.due_cases(uow.conn, kind, now, batch):
                case_id = case[repo.KEY[kind]]
                await repo.mark_overdue(uow.conn, kind, case_id, now)
                event_type, data, id_from = _announcement(kind, case, now)
                uow.emit(event_type, case["member_id"], case_id, data, id_from=id_from, time=now)
                announced += 1
        if announced:
            uow.after_commit(lambda: metrics.overdue_announced.inc(announced))
        overdue = await repo.overdue_counts(uow.conn, "report")
        needs_overdue = await repo.overdue_counts(uow.conn, "need")
        registry = {r["department_id"] for r in await repo.departments(uow.conn)}
        tallies = await repo.department_tallies(uow.conn, now - timedelta(days=kpi_days), now, None)
    for gauge, rows in ((metrics.overdue, overdue), (metrics.needs_overdue, needs_overdue)):
        gauge.clear()
        for row in rows:
            gauge.labels(row["district"], row["category"]).set(row["n"])
    _department_gauges(metrics, tallies, registry)
    return announced


def _announcement(kind: str, case: Row, now: datetime) -> tuple[str, ReportOverdue | NeedOverdue, tuple[str, ...]]:
    """A case's overdue announcement: its type, its data, and what its id derives from (per kind as
    it has always been, so a re-run announces under the same id; the round is in it, as a reopened
    case may become overdue again)."""
    shared: dict[str, Any] = {
        "member_id": case["member_id"],
        "district": case["district"] or "unknown",
        "grid_id": case["grid_id"],
        "district_source": case["district_source"],
        "department": case["department"],
        "status": case["status"],
        "submitted_at": case["submitted_at"],
        "due_at": case["due_at"],
        "overdue_at": now,
    }
    if kind == "report":
        report_id, rounds = case["report_id"], case["reopened_count"]
        report = ReportOverdue(report_id=report_id, category=ReportCategory(case["category"]), **shared)
        return "report.overdue", report, (report_id,) if not rounds else (report_id, str(rounds))
    need = NeedOverdue(need_id=case["need_id"], category=NeedCategory(case["category"]), **shared)
    return "need.overdue", need, ("need", case["need_id"], str(case["reopened_count"]))


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
