"""HTTP routes of the reports service (thin: read models only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path, Query
from incentives_kernel.auth import Caller, Role
from incentives_kernel.db import Row
from incentives_kernel.events import ID_PATTERN
from incentives_kernel.http_errors import ApiError, errors
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor
from incentives_kernel.runtime import ServiceRuntime
from pydantic import BaseModel, Field

from . import repository as repo
from .usecases import Deps


class StatusEntry(BaseModel):
    status: str
    reason: str | None
    department: str | None
    note: str | None
    changed_at: datetime


class Sla(BaseModel):
    due_at: datetime
    overdue: bool
    overdue_announced_at: datetime | None = None


class Report(BaseModel):
    report_id: str
    member_id: str
    category: str
    description: str
    status: str
    rejection_reason: str | None
    department: str | None
    district: str | None
    duplicate_of: str | None
    photo_reused_from: str | None = Field(description="another report that used one of this report's photos first")
    submitted_at: datetime
    verified_at: datetime | None
    earns_points: bool
    points_earned: int = Field(description="net points the points service credited for this report")
    rating: int | None
    sla: Sla
    history: list[StatusEntry] | None = None


class ReportPage(BaseModel):
    items: list[Report]
    next_cursor: str | None


def build_routers(runtime: ServiceRuntime, _deps: Deps) -> list[APIRouter]:
    """The reports routes: read models only (reports change through events)."""
    router = APIRouter(prefix="/v1", tags=["reports"], responses=errors(400, 401, 403, 413, 422))
    reader = runtime.require(Role.GATEWAY, Role.MEMBER)
    operator = runtime.require(Role.OPERATOR)

    def to_model(row: Row, history: list[Row] | None = None) -> Report:
        due = row["due_at"]
        open_ = row["status"] not in ("resolved", "rejected")
        return Report(
            report_id=row["report_id"],
            member_id=row["member_id"],
            category=row["category"],
            description=row["description"],
            status=row["status"],
            rejection_reason=row["rejection_reason"],
            department=row["department"],
            district=row["district"],
            duplicate_of=row["duplicate_of"],
            photo_reused_from=row["photo_reused_from"],
            points_earned=row["points_earned"],
            submitted_at=row["submitted_at"],
            verified_at=row["verified_at"],
            earns_points=row["verified_at"] is not None and row["reversed_at"] is None,
            rating=row["rating"],
            sla=Sla(due_at=due, overdue=open_ and datetime.now(UTC) > due, overdue_announced_at=row["overdue_at"]),
            history=[StatusEntry(**dict(h)) for h in history] if history is not None else None,
        )

    async def page(limit: int, cursor: str | None, **filters: Any) -> ReportPage:
        after = decode_cursor(cursor, datetime, str)
        async with runtime.pool.acquire() as conn:
            rows = await repo.list_reports(conn, after=after, limit=limit + 1, **filters)
        items = [to_model(r) for r in rows[:limit]]
        nxt = (
            encode_cursor([rows[limit - 1]["submitted_at"].isoformat(), rows[limit - 1]["report_id"]])
            if len(rows) > limit
            else None
        )
        return ReportPage(items=items, next_cursor=nxt)

    @router.get("/reports/{report_id}", response_model=Report, responses=errors(404))
    async def get_report(
        report_id: str = Path(pattern=ID_PATTERN),
        member_id: str | None = Query(None, pattern=ID_PATTERN, description="the member the gateway acts for"),
        caller: Caller = reader,
    ) -> Report:
        async with runtime.pool.acquire() as conn:
            row = await repo.get_report(conn, report_id)
            if row is None or not caller.sees(row["member_id"], member_id):
                raise ApiError(404, "not_found", f"no report {report_id}")
            return to_model(row, await repo.history(conn, report_id))

    @router.get("/members/{member_id}/reports", response_model=ReportPage, dependencies=[reader])
    async def member_reports(
        member_id: str = Path(pattern=ID_PATTERN), limit: int = Query(50, ge=1, le=MAX_LIMIT), cursor: str | None = None
    ) -> ReportPage:
        return await page(limit, cursor, member_id=member_id, status=None, district=None, overdue_before=None)

    @router.get("/reports", response_model=ReportPage, dependencies=[operator])
    async def list_reports(
        status: str | None = Query(None, pattern="^(submitted|dispatched|accepted|resolved|rejected)$"),
        district: str | None = Query(None, max_length=64),
        overdue: bool = False,
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> ReportPage:
        overdue_before = datetime.now(UTC) if overdue else None
        return await page(
            limit, cursor, member_id=None, status=status, district=district, overdue_before=overdue_before
        )

    return [router]
