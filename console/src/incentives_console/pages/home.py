"""The home page: what needs attention now, each card from an API that answers it today.

Every card's data is fetched at once (one request per card, per service for the kernel's dead letters
and parked events), so the page waits for the slowest service, not for their sum. A service that fails
or does not answer shows as unavailable on its own card (or its own row), never as a broken page.
Counts come from a first page of each list: beyond the sample a card says "200+", which is all an
operator needs to know to open the page where the work is done.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ..backends import ServiceError
from ..settings import SERVICES
from ..web import Page, signed_in

router = APIRouter()
T = TypeVar("T")

OVERDUE_SAMPLE = 200  # the reports API's largest page: beyond it the card says "200+"
# Dead letters and parked events read per service. Each carries its (masked) record, so a smaller
# sample than the overdue one keeps four services' answers cheap; "100+" says enough.
EVENTS_SAMPLE = 100
ROUNDS_SAMPLE = 50  # rounds in public notice at once are a handful
WEBHOOKS_SAMPLE = 50


async def _overdue(page: Page, kind: str) -> dict[str, Any]:
    """Overdue reports or needs (reports' `GET /v1/reports|needs?overdue=true`), counted by district."""
    body = await page.api.get("reports", f"/v1/{kind}", overdue="true", limit=OVERDUE_SAMPLE)
    items = body["items"]
    by_district = Counter(r["district"] or "–" for r in items).most_common()
    return {"count": len(items), "more": body["next_cursor"] is not None, "by_district": by_district}


async def _low_stock(page: Page) -> list[dict[str, Any]]:
    rewards = await page.api.get("rewards", "/v1/rewards")
    threshold = page.console.settings.low_stock
    low = [r for r in rewards if r["kind"] == "instant" and r["stock_available"] <= threshold]
    return sorted(low, key=lambda r: (r["stock_available"], r["reward_id"]))


async def _webhooks(page: Page) -> dict[str, Any]:
    """Endpoints that need an operator (notify filters: circuit not closed, or dead letters waiting)."""
    body = await page.api.get("notify", "/v1/webhooks", attention="true", limit=WEBHOOKS_SAMPLE)
    return {"items": body["items"], "more": body["next_cursor"] is not None}


async def _dead_letters(page: Page, service: str) -> dict[str, Any]:
    """A service's dead letters not replayed yet (the kernel's `GET /v1/dead-letters`), by topic.

    A dead letter replayed once is not counted even if the replay failed again: the operator has seen it,
    and the dead-letters page lists it with its replays."""
    body = await page.api.get(service, "/v1/dead-letters", replayed="false", limit=EVENTS_SAMPLE)
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for d in body["items"]:
        by_topic.setdefault(d["topic"], []).append(d)
    rows = [
        {
            "topic": topic,
            "count": len(letters),
            "newest": letters[0]["dead_lettered_at"],  # the list is newest first
            "reason": Counter(d["reason"] for d in letters).most_common(1)[0][0],
        }
        for topic, letters in by_topic.items()
    ]
    rows.sort(key=lambda t: (-t["count"], t["topic"]))
    return {"count": len(body["items"]), "more": body["next_cursor"] is not None, "topics": rows}


async def _parked(page: Page, service: str) -> dict[str, Any]:
    """A service's parked events (the kernel's `GET /v1/parked-events`, the longest waiting first)."""
    body = await page.api.get(service, "/v1/parked-events", limit=EVENTS_SAMPLE)
    items = body["items"]
    return {"count": len(items), "more": body["next_cursor"] is not None, "oldest": items[0] if items else None}


async def _rounds_in_notice(page: Page) -> dict[str, Any]:
    """Closed rounds whose result is still provisional (rewards' status `provisional`): the public notice,
    during which a winner may be disqualified. The notice ending first comes first."""
    body = await page.api.get("rewards", "/v1/allocation-rounds", status="provisional", limit=ROUNDS_SAMPLE)
    items = sorted(
        body["items"],
        key=lambda r: (r["notice_ends_at"] is None, datetime.fromisoformat(r["notice_ends_at"] or "1970-01-01T00:00Z")),
    )
    return {"items": items, "more": body["next_cursor"] is not None}


async def _card(job: Awaitable[T]) -> tuple[T | None, ServiceError | None]:
    """One card's data, or the reason it is missing: one service down must not blank the whole page."""
    try:
        return await job, None
    except ServiceError as exc:
        if exc.status == 401:
            raise
        return None, exc


def _total(per_service: list[tuple[str, dict[str, Any] | None, ServiceError | None]]) -> dict[str, Any]:
    answered = [data for _, data, _ in per_service if data is not None]
    return {"count": sum(d["count"] for d in answered), "more": any(d["more"] for d in answered)}


@router.get("/")
async def home(page: Page = Depends(signed_in)) -> Response:
    n = len(SERVICES)
    overdue, needs, low, hooks, rounds, *rest = await asyncio.gather(
        _card(_overdue(page, "reports")),
        _card(_overdue(page, "needs")),
        _card(_low_stock(page)),
        _card(_webhooks(page)),
        _card(_rounds_in_notice(page)),
        *[_card(_dead_letters(page, name)) for name in SERVICES],
        *[_card(_parked(page, name)) for name in SERVICES],
        *[page.console.backends.ready(name) for name in SERVICES],
    )
    dead = [(name, *card) for name, card in zip(SERVICES, rest[:n], strict=True)]
    parked = [(name, *card) for name, card in zip(SERVICES, rest[n : 2 * n], strict=True)]
    return page.render(
        "home.html",
        overdue=overdue[0],
        overdue_error=overdue[1],
        overdue_needs=needs[0],
        overdue_needs_error=needs[1],
        low_stock=low[0],
        low_stock_error=low[1],
        low_stock_threshold=page.console.settings.low_stock,
        webhooks=hooks[0],
        webhooks_error=hooks[1],
        rounds=rounds[0],
        rounds_error=rounds[1],
        dead_letters=dead,
        dead_letters_total=_total(dead),
        parked=parked,
        parked_total=_total(parked),
        events_sample=EVENTS_SAMPLE,
        services=list(zip(SERVICES, rest[2 * n :], strict=True)),
    )
