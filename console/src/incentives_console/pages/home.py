"""The home page: what needs attention now, each card from an API that answers it today."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ..backends import ServiceError
from ..settings import SERVICES
from ..web import Page, signed_in

router = APIRouter()

OVERDUE_SAMPLE = 200  # the reports API's largest page: beyond it the card says "200+"


async def _overdue(page: Page) -> dict[str, Any]:
    body = await page.api.get("reports", "/v1/reports", overdue="true", limit=OVERDUE_SAMPLE)
    items = body["items"]
    by_district = Counter(r["district"] or "–" for r in items).most_common()
    return {"count": len(items), "more": body["next_cursor"] is not None, "by_district": by_district}


async def _low_stock(page: Page) -> list[dict[str, Any]]:
    rewards = await page.api.get("rewards", "/v1/rewards")
    threshold = page.console.settings.low_stock
    low = [r for r in rewards if r["kind"] == "instant" and r["stock_available"] <= threshold]
    return sorted(low, key=lambda r: (r["stock_available"], r["reward_id"]))


async def _webhooks(page: Page) -> list[dict[str, Any]]:
    body = await page.api.get("notify", "/v1/webhooks", attention="true", limit=200)
    hooks: list[dict[str, Any]] = body["items"]
    return hooks


async def _card(job: Any) -> tuple[Any, ServiceError | None]:
    """One card's data, or the reason it is missing: one service down must not blank the whole page."""
    try:
        return await job, None
    except ServiceError as exc:
        if exc.status == 401:
            raise
        return None, exc


@router.get("/")
async def home(page: Page = Depends(signed_in)) -> Response:
    (overdue, overdue_error), (low, low_error), (hooks, hooks_error), *ready = await asyncio.gather(
        _card(_overdue(page)),
        _card(_low_stock(page)),
        _card(_webhooks(page)),
        *[page.console.backends.ready(name) for name in SERVICES],
    )
    return page.render(
        "home.html",
        overdue=overdue,
        overdue_error=overdue_error,
        low_stock=low,
        low_stock_error=low_error,
        low_stock_threshold=page.console.settings.low_stock,
        webhooks=hooks,
        webhooks_error=hooks_error,
        services=list(zip(SERVICES, ready, strict=True)),
    )
