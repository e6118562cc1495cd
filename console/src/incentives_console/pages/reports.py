"""Reports: the list with filters (status, district, overdue) and its map, and one report with its history."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query
from incentives_kernel.events import ID_PATTERN
from starlette.responses import Response

from ..web import Page, signed_in
from .cases import Status, list_page

router = APIRouter()


@router.get("/reports")
async def list_reports(
    status: Status = "",
    district: str = Query("", max_length=64),
    overdue: bool = False,
    cursor: str = Query("", max_length=512),
    page: Page = Depends(signed_in),
) -> Response:
    return await list_page(
        page, "reports", {"status": status, "district": district.strip(), "overdue": overdue}, cursor
    )


@router.get("/reports/{report_id}")
async def show_report(report_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    report = await page.api.get("reports", f"/v1/reports/{report_id}")
    return page.render("report.html", report=report)
