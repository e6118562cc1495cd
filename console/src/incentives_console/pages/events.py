"""Dead letters and parked events of each service (the kernel's operator APIs): see them, replay a dead
letter once its cause is fixed, release a parked event now or dead-letter it. Every action is recorded
by the owning service with who and when (`/v1/operator-actions`), and by the console's own log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from ..backends import ServiceError
from ..settings import SERVICES
from ..web import Page, Refused, signed_in

router = APIRouter()

SERVICE_PATTERN = "^(" + "|".join(SERVICES) + ")$"


def _service(service: str) -> str:
    if service not in SERVICES:
        raise Refused(404, "error.not_found")
    return service


@router.get("/dead-letters")
async def dead_letters(
    service: str = Query("reports", pattern=SERVICE_PATTERN),
    topic: str = Query("", max_length=249),
    reason: str = Query("", max_length=64),
    cursor: str = Query("", max_length=512),
    page: Page = Depends(signed_in),
) -> Response:
    letters = await page.api.get(
        service, "/v1/dead-letters", topic=topic or None, reason=reason or None, limit=50, cursor=cursor or None
    )
    return page.render(
        "dead_letters.html",
        service=service,
        services=SERVICES,
        letters=letters,
        topic=topic,
        reason=reason,
        cursor=cursor,
    )


@router.post("/dead-letters/{service}/{dead_letter_id}/replay")
async def replay(
    service: str = Path(pattern=SERVICE_PATTERN),
    dead_letter_id: int = Path(ge=1),
    page: Page = Depends(signed_in),
) -> Response:
    _service(service)
    await page.form()
    target = f"{service}:{dead_letter_id}"
    try:
        answer = await page.api.post(service, f"/v1/dead-letters/{dead_letter_id}/replay")
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit("dead_letter.replay", target, "refused", code=exc.code)
        page.flash("error", page.t("events.refused", message=exc.message))
    else:
        [done] = answer["replayed"]
        page.audit("dead_letter.replay", target, done["outcome"])
        outcome = page.t.label("outcome", done["outcome"])
        page.flash(
            "ok" if done["outcome"] in ("applied", "ignored") else "error",
            page.t("events.replayed", id=dead_letter_id, outcome=outcome, reason=done.get("reason") or ""),
        )
    return page.redirect(f"/dead-letters?service={service}")


@router.get("/parked")
async def parked(
    service: str = Query("points", pattern=SERVICE_PATTERN),
    awaiting: str = Query("", max_length=256),
    cursor: str = Query("", max_length=512),
    page: Page = Depends(signed_in),
) -> Response:
    events = await page.api.get(
        service, "/v1/parked-events", awaiting=awaiting or None, limit=50, cursor=cursor or None
    )
    return page.render(
        "parked.html", service=service, services=SERVICES, events=events, awaiting=awaiting, cursor=cursor
    )


async def _act_on_parked(page: Page, service: str, action: str, path: str) -> Response:
    _service(service)
    form = await page.form()
    body: dict[str, Any] = {"source": form.get("source"), "event_id": form.get("event_id")}
    if action == "parked.dead_letter":
        body["note"] = form.get("note") or None
    target = f"{service}:{body['event_id']}"
    try:
        answer = await page.api.post(service, path, body)
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit(action, target, "refused", code=exc.code)
        page.flash("error", page.t("events.refused", message=exc.message))
    else:
        page.audit(action, target, answer["outcome"])
        outcome = page.t.label("outcome", answer["outcome"])
        page.flash("ok", page.t("events.parked_done", event=body["event_id"], outcome=outcome))
    return page.redirect(f"/parked?service={service}")


@router.post("/parked/{service}/release")
async def release(service: str = Path(pattern=SERVICE_PATTERN), page: Page = Depends(signed_in)) -> Response:
    return await _act_on_parked(page, service, "parked.release", "/v1/parked-events/release")


@router.post("/parked/{service}/dead-letter")
async def dead_letter(service: str = Path(pattern=SERVICE_PATTERN), page: Page = Depends(signed_in)) -> Response:
    return await _act_on_parked(page, service, "parked.dead_letter", "/v1/parked-events/dead-letter")
