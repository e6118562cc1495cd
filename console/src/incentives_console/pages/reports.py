"""Reports: the list with filters (status, district, overdue) and one report with its history."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from incentives_kernel.events import ID_PATTERN
from starlette.responses import Response

from ..web import Page, signed_in
from .cases import PAGE_SIZE, STATUSES, next_url

router = APIRouter()


@router.get("/reports")
async def list_reports(
    status: Literal["", "submitted", "dispatched", "accepted", "resolved", "rejected", "reopened"] = "",
    district: str = Query("", max_length=64),
    overdue: bool = False,
    cursor: str = Query("", max_length=512),
    page: Page = Depends(signed_in),
) -> Response:
    body = await page.api.get(
        "reports",
        "/v1/reports",
        status=status,
        district=district.strip(),
        overdue="true" if overdue else None,
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    filters = {"status": status, "district": district.strip(), "overdue": overdue}
    return page.render(
        "reports.html",
        reports=body["items"],
        next_url=next_url("/reports", filters, body["next_cursor"]),
        filters=filters,
        statuses=STATUSES,
    )


@router.get("/reports/{report_id}")
async def show_report(report_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    report = await page.api.get("reports", f"/v1/reports/{report_id}")
    return page.render("report.html", report=report)
