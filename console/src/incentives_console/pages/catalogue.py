"""The catalogue and stock: every reward with its stock, a new reward, stock in or out with a reason,
and the history of stock changes with who made each.

The rewards service is the one validator: the console passes what was typed (numbers as typed; the
service parses them) and shows the service's own reason when it refuses.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from incentives_kernel.events import ID_PATTERN
from starlette.responses import Response

from ..backends import ServiceError
from ..forms import Form
from ..web import Page, signed_in

router = APIRouter()

REWARD_FIELDS = ("reward_id", "name", "description", "kind", "cost_points", "min_star_level", "per_member_limit")


def reward_body(form: Form) -> dict[str, Any]:
    """The POST /v1/rewards body from the form: empty optional fields left out, districts split."""
    body: dict[str, Any] = {name: form.get(name) for name in REWARD_FIELDS if form.get(name)}
    districts = [d.strip() for d in form.get("districts").replace("，", ",").split(",") if d.strip()]
    if districts:
        body["districts"] = districts
    if form.get("initial_stock"):
        body["initial_stock"] = form.get("initial_stock")
    return body


async def _rewards(page: Page) -> list[dict[str, Any]]:
    rewards: list[dict[str, Any]] = await page.api.get("rewards", "/v1/rewards")
    return rewards


@router.get("/catalogue")
async def catalogue(page: Page = Depends(signed_in)) -> Response:
    return page.render("catalogue.html", rewards=await _rewards(page), values={}, error=None)


@router.post("/catalogue")
async def create_reward(page: Page = Depends(signed_in)) -> Response:
    form = await page.form()
    body = reward_body(form)
    try:
        created = await page.api.post("rewards", "/v1/rewards", body)
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit("reward.create", body.get("reward_id", ""), "refused", code=exc.code)
        rewards = await _rewards(page)
        return page.render("catalogue.html", status=exc.status, rewards=rewards, values=form.values(), error=exc)
    page.audit("reward.create", created["reward_id"], "ok")
    page.flash("ok", page.t("catalogue.created", reward=created["reward_id"]))
    return page.redirect(f"/catalogue/{created['reward_id']}")


@router.get("/catalogue/{reward_id}")
async def show_reward(reward_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    reward = next((r for r in await _rewards(page) if r["reward_id"] == reward_id), None)
    if reward is None:
        raise ServiceError("rewards", 404, "not_found", f"no reward {reward_id}")
    changes = await page.api.get("rewards", f"/v1/rewards/{reward_id}/stock-changes", limit=100)
    return page.render("reward.html", reward=reward, changes=changes)


@router.post("/catalogue/{reward_id}/stock")
async def change_stock(reward_id: str = Path(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    form = await page.form()
    delta, reason = form.get("delta"), form.get("reason")
    try:
        after = await page.api.post("rewards", f"/v1/rewards/{reward_id}/stock", {"delta": delta, "reason": reason})
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit("stock.change", reward_id, "refused", code=exc.code, delta=delta)
        page.flash("error", page.t("catalogue.stock_refused", message=exc.message))
    else:
        page.audit("stock.change", reward_id, "ok", delta=delta)
        page.flash("ok", page.t("catalogue.stock_changed", delta=delta, stock=after["stock_available"]))
    return page.redirect(f"/catalogue/{reward_id}")
