"""Allocation rounds: open one, find one, see its applications and the ranking with the figures frozen
at close, close it, and verify the result by re-computing it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from incentives_kernel.events import ID_PATTERN
from starlette.responses import Response

from ..backends import ServiceError
from ..forms import Form
from ..verify import verify
from ..web import Page, signed_in

router = APIRouter()

# Applications shown per page of a round: a popular round has thousands, and a page of every one took
# longer to render than an operator should wait (bench CONSOLE: 5,000 applicants, 300-900 ms).
APPLICATIONS_PAGE = 100


def local_time(value: str, page: Page) -> str | None:
    """A datetime-local field (wall time in the business time zone) as ISO 8601 with its offset."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(page.t("rounds.bad_time", value=value)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=page.console.zone)
    return moment.isoformat()


def round_body(form: Form, page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {name: form.get(name) for name in ("round_id", "reward_id", "quota", "seed")}
    body = {k: v for k, v in body.items() if v}
    for name in ("opens_at", "closes_at"):
        when = local_time(form.get(name), page)
        if when:
            body[name] = when
    return body


def in_order(applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked applications by rank, then the unranked (refused, lost before ranking) by time."""
    return sorted(applications, key=lambda a: (a["rank"] is None, a["rank"] or 0, a["applied_at"]))


async def _allocation_rewards(page: Page) -> list[dict[str, Any]]:
    return [r for r in await page.api.get("rewards", "/v1/rewards") if r["kind"] == "allocation"]


async def _listed(page: Page) -> list[dict[str, Any]]:
    """The newest rounds with their status (rewards' `GET /v1/allocation-rounds`)."""
    listed: dict[str, Any] = await page.api.get("rewards", "/v1/allocation-rounds", limit=50)
    return list(listed["items"])


@router.get("/rounds")
async def rounds(page: Page = Depends(signed_in)) -> Response:
    return page.render(
        "rounds.html", rewards=await _allocation_rewards(page), listed=await _listed(page), values={}, error=None
    )


@router.get("/rounds/find")
async def find_round(round_id: str = Query(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    return page.redirect(f"/rounds/{round_id}")


@router.post("/rounds")
async def open_round(page: Page = Depends(signed_in)) -> Response:
    form = await page.form()
    try:
        body = round_body(form, page)
        opened = await page.api.post("rewards", "/v1/allocation-rounds", body)
    except (ServiceError, ValueError) as exc:
        if isinstance(exc, ServiceError) and not exc.correctable:
            raise
        status = exc.status if isinstance(exc, ServiceError) else 400
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        page.audit("round.open", form.get("round_id"), "refused", reason=message)
        rewards, listed = await _allocation_rewards(page), await _listed(page)
        return page.render(
            "rounds.html", status=status, rewards=rewards, listed=listed, values=form.values(), error=message
        )
    page.audit("round.open", opened["round_id"], "ok", reward=opened["reward_id"], quota=opened["quota"])
    page.flash("ok", page.t("rounds.opened", round=opened["round_id"]))
    return page.redirect(f"/rounds/{opened['round_id']}")


@router.get("/rounds/{round_id}")
async def show_round(
    round_id: str = Path(pattern=ID_PATTERN), p: int = Query(1, ge=1, le=100_000), page: Page = Depends(signed_in)
) -> Response:
    found = await page.api.get("rewards", f"/v1/allocation-rounds/{round_id}")
    ordered = in_order(found["applications"])
    first = (p - 1) * APPLICATIONS_PAGE
    shown = ordered[first : first + APPLICATIONS_PAGE]
    return page.render(
        "round.html",
        round=found,
        applications=shown,
        total=len(ordered),
        first=first + 1,
        last=first + len(shown),
        page_number=p,
        more=first + APPLICATIONS_PAGE < len(ordered),
    )


@router.post("/rounds/{round_id}/close")
async def close_round(round_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    await page.form()
    try:
        closed = await page.api.post("rewards", f"/v1/allocation-rounds/{round_id}/close")
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit("round.close", round_id, "refused", code=exc.code)
        page.flash("error", page.t("rounds.close_refused", message=exc.message))
    else:
        page.audit("round.close", round_id, "ok", result_sha256=closed["result_sha256"])
        page.flash("ok", page.t("rounds.closed", round=round_id))
    return page.redirect(f"/rounds/{round_id}")


@router.post("/rounds/{round_id}/disqualify")
async def disqualify(round_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    """During the public notice: take a provisional winner's place away, with a reason; the next in line gets it."""
    form = await page.form()
    member_id, reason = form.get("member_id"), form.get("reason")
    try:
        done = await page.api.post(
            "rewards", f"/v1/allocation-rounds/{round_id}/disqualifications", {"member_id": member_id, "reason": reason}
        )
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit("round.disqualify", round_id, "refused", member=member_id, code=exc.code)
        page.flash("error", page.t("rounds.disqualify_refused", message=exc.message))
    else:
        page.audit("round.disqualify", round_id, "ok", member=member_id, promoted=done["promoted"])
        page.flash("ok", page.t("rounds.disqualified", member=member_id, promoted=done["promoted"] or "–"))
    return page.redirect(f"/rounds/{round_id}")


@router.get("/rounds/{round_id}/verify")
async def verify_round(round_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    found = await page.api.get("rewards", f"/v1/allocation-rounds/{round_id}")
    return page.render("verify.html", round=found, verification=verify(found))
