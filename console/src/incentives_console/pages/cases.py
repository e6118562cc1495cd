"""What the reports and needs pages share: the list with its filters, the map of its rows, the next page."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote

from starlette.responses import Response

from .. import areamap
from ..web import Page

STATUSES = ("submitted", "dispatched", "accepted", "resolved", "rejected", "reopened")
Status = Literal["", "submitted", "dispatched", "accepted", "resolved", "rejected", "reopened"]  # "": any
Kind = Literal["reports", "needs"]
PAGE_SIZE = 50


async def areas(page: Page) -> tuple[areamap.Area, ...]:
    """The reports service's areas (`GET /v1/areas`), fetched at most once per cache period."""
    cache = page.console.areas
    now = time.monotonic()
    kept = cache.get(now)
    if kept is None:
        kept = areamap.read_areas(await page.api.get("reports", "/v1/areas"))
        cache.keep(kept, now)
    return kept


def _case(item: Mapping[str, Any], case_id: str, href: str) -> areamap.Case:
    location = item.get("location") or {}
    return areamap.Case(
        case_id=case_id,
        href=href,
        status=str(item.get("status", "")),
        category=str(item.get("category", "")),
        overdue=bool(item.get("overdue")),
        lat=location.get("lat"),
        lon=location.get("lon"),
    )


def cases_of(kind: Kind, items: Iterable[Mapping[str, Any]]) -> list[areamap.Case]:
    id_key = "report_id" if kind == "reports" else "need_id"
    return [_case(item, item[id_key], f"/{kind}/{quote(item[id_key], safe='')}") for item in items]


async def area_map(page: Page, cases: list[areamap.Case], district: str) -> areamap.MapView:
    """The areas with this page's rows on them (at most PAGE_SIZE dots: the map shows what the table
    lists, and the next page's map the next rows), framed on the filtered district."""
    drawn = await areas(page)
    return areamap.draw(drawn, cases, district, page.console.areas.layers)


async def list_page(page: Page, kind: Kind, filters: dict[str, Any], cursor: str) -> Response:
    """One page of reports or needs matching `filters` (status, district, [department,] overdue), with
    its map and the link to the next page."""
    query = {**filters, "overdue": "true" if filters["overdue"] else None}
    body = await page.api.get("reports", f"/v1/{kind}", **query, limit=PAGE_SIZE, cursor=cursor)
    return page.render(
        f"{kind}.html",
        items=body["items"],
        next_url=next_url(f"/{kind}", filters, body["next_cursor"]),
        filters=filters,
        statuses=STATUSES,
        map=await area_map(page, cases_of(kind, body["items"]), filters["district"]),
    )


def next_url(path: str, filters: Mapping[str, Any], cursor: str | None) -> str | None:
    """The list's next page with the same filters (the template escapes the `&`s)."""
    if not cursor:
        return None
    query = [
        ("overdue=true" if value else "") if name == "overdue" else f"{name}={quote(str(value), safe='')}"
        for name, value in filters.items()
    ]
    return f"{path}?" + "&".join(part for part in query if part) + f"&cursor={quote(cursor, safe='')}"
