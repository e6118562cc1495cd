"""Webhooks: the endpoints with their circuit breaker state, register and disable one, and see and send
again the deliveries that were dead-lettered."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from incentives_kernel.events import ID_PATTERN
from notify.kinds import NOTIFIED_TYPES
from starlette.responses import Response

from ..backends import ServiceError
from ..web import Page, signed_in

router = APIRouter()


PAGE_SIZE = 50


async def _list(page: Page, include_disabled: bool, cursor: str = "") -> dict[str, Any]:
    """One page of endpoints in registration order (notify's keyset-paginated `GET /v1/webhooks`)."""
    hooks: dict[str, Any] = await page.api.get(
        "notify",
        "/v1/webhooks",
        include_disabled="true" if include_disabled else None,
        limit=PAGE_SIZE,
        cursor=cursor or None,
    )
    return hooks


@router.get("/webhooks")
async def webhooks(
    all: bool = False, cursor: str = Query("", max_length=512), page: Page = Depends(signed_in)
) -> Response:
    hooks = await _list(page, all, cursor)
    return page.render(
        "webhooks.html",
        webhooks=hooks["items"],
        next_cursor=hooks["next_cursor"],
        cursor=cursor,
        include_disabled=all,
        event_types=NOTIFIED_TYPES,
        values={},
        error=None,
    )


@router.post("/webhooks")
async def register(page: Page = Depends(signed_in)) -> Response:
    form = await page.form()
    body = {"url": form.get("url"), "event_types": form.getlist("event_types"), "secret": form.get("secret")}
    try:
        created = await page.api.post("notify", "/v1/webhooks", body)
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit("webhook.register", "", "refused", code=exc.code)
        values = {"url": body["url"], "event_types": body["event_types"]}  # never the secret back
        hooks = await _list(page, False)
        return page.render(
            "webhooks.html",
            status=exc.status,
            webhooks=hooks["items"],
            next_cursor=hooks["next_cursor"],
            cursor="",
            include_disabled=False,
            event_types=NOTIFIED_TYPES,
            values=values,
            error=exc.message,
        )
    page.audit("webhook.register", created["webhook_id"], "ok")
    page.flash("ok", page.t("webhooks.registered", webhook=created["webhook_id"]))
    return page.redirect(f"/webhooks/{created['webhook_id']}")


@router.get("/webhooks/{webhook_id}")
async def show_webhook(
    webhook_id: str = Path(pattern=ID_PATTERN),
    cursor: str = Query("", max_length=512),
    page: Page = Depends(signed_in),
) -> Response:
    hook = await page.api.get("notify", f"/v1/webhooks/{webhook_id}")
    letters = await page.api.get("notify", f"/v1/webhooks/{webhook_id}/dead-letters", limit=50, cursor=cursor)
    return page.render("webhook.html", webhook=hook, letters=letters, cursor=cursor)


async def _act(page: Page, action: str, webhook_id: str, path: str, method: str, ok_key: str) -> Response:
    await page.form()
    try:
        answer = await page.api.call("notify", method, path)
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit(action, webhook_id, "refused", code=exc.code)
        page.flash("error", page.t("webhooks.refused", message=exc.message))
    else:
        count = len(answer.get("redriven", [])) if isinstance(answer, dict) else 0
        page.audit(action, webhook_id, "ok", count=count)
        page.flash("ok", page.t(ok_key, webhook=webhook_id, count=count))
    return page.redirect(f"/webhooks/{webhook_id}")


@router.post("/webhooks/{webhook_id}/disable")
async def disable(webhook_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    path = f"/v1/webhooks/{webhook_id}"
    return await _act(page, "webhook.disable", webhook_id, path, "DELETE", "webhooks.disabled_done")


@router.post("/webhooks/{webhook_id}/redrive")
async def redrive_all(webhook_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    path = f"/v1/webhooks/{webhook_id}/dead-letters/redrive"
    return await _act(page, "webhook.redrive", webhook_id, path, "POST", "webhooks.redriven")


@router.post("/webhooks/{webhook_id}/dead-letters/{delivery_id}/redrive")
async def redrive_one(
    webhook_id: str = Path(pattern=ID_PATTERN),
    delivery_id: str = Path(max_length=64, pattern=ID_PATTERN),
    page: Page = Depends(signed_in),
) -> Response:
    path = f"/v1/webhooks/{webhook_id}/dead-letters/{delivery_id}/redrive"
    return await _act(page, "webhook.redrive", webhook_id, path, "POST", "webhooks.redriven")
