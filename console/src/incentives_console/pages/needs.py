"""Riders' needs (小哥点单): the list with filters and its map, one need with its history; department KPIs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Depends, Path, Query
from incentives_kernel.events import ID_PATTERN
from starlette.responses import Response

from ..web import Page, signed_in
from .cases import Status, list_page

router = APIRouter()

KPI_DAYS = 30


@router.get("/needs")
async def list_needs(
    status: Status = "",
    district: str = Query("", max_length=64),
    department: str = Query("", max_length=128),
    overdue: bool = False,
    cursor: str = Query("", max_length=512),
    page: Page = Depends(signed_in),
) -> Response:
    filters = {"status": status, "district": district.strip(), "department": department.strip(), "overdue": overdue}
    return await list_page(page, "needs", filters, cursor)


@router.get("/needs/{need_id}")
async def show_need(need_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    need = await page.api.get("reports", f"/v1/needs/{need_id}")
    return page.render("need.html", need=need)


def _day(text: str) -> date | None:
    """A YYYY-MM-DD the browser's date field sent; an impossible date counts as none given."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/departments")
async def department_kpis(
    start: str = Query("", alias="from", max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$"),
    end: str = Query("", alias="to", max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$"),
    district: str = Query("", max_length=64),
    page: Page = Depends(signed_in),
) -> Response:
    """Each department's KPIs over [from, to) (whole days, UTC; default the last 30 days)."""
    to_day = _day(end) or datetime.now(UTC).date() + timedelta(days=1)
    from_day = _day(start) or to_day - timedelta(days=KPI_DAYS)
    body = await page.api.get(
        "reports",
        "/v1/kpis/departments",
        **{
            "from": datetime(from_day.year, from_day.month, from_day.day, tzinfo=UTC).isoformat(),
            "to": datetime(to_day.year, to_day.month, to_day.day, tzinfo=UTC).isoformat(),
        },
        district=district.strip(),
    )
    filters = {"from": from_day.isoformat(), "to": to_day.isoformat(), "district": district.strip()}
    return page.render("departments.html", items=body["items"], filters=filters)
