"""Providers and stations: the registry of partner shops, rider stations, hospitals and school offices
that may redeem vouchers; register one (or update it under the same id)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ..backends import ServiceError
from ..forms import Form
from ..web import Page, signed_in

router = APIRouter()
KINDS = ("station", "shop", "hospital", "school_office", "other")


def provider_body(form: Form, page: Page) -> dict[str, Any]:
    try:
        location = {"lat": float(form.get("lat")), "lon": float(form.get("lon"))}
    except ValueError:
        raise ValueError(page.t("providers.bad_location")) from None
    fields = ("provider_id", "name", "kind", "address", "opening_hours")
    return {name: form.get(name) for name in fields} | {"location": location}


async def _listed(page: Page) -> list[dict[str, Any]]:
    return list(await page.api.get("rewards", "/v1/providers", limit=200))


@router.get("/providers")
async def providers(page: Page = Depends(signed_in)) -> Response:
    return page.render("providers.html", providers=await _listed(page), kinds=KINDS, values={}, error=None)


@router.post("/providers")
async def register(page: Page = Depends(signed_in)) -> Response:
    form = await page.form()
    try:
        saved = await page.api.post("rewards", "/v1/providers", provider_body(form, page))
    except (ServiceError, ValueError) as exc:
        if isinstance(exc, ServiceError) and not exc.correctable:
            raise
        status = exc.status if isinstance(exc, ServiceError) else 400
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        page.audit("provider.register", form.get("provider_id"), "refused", reason=message)
        listed = await _listed(page)
        return page.render(
            "providers.html", status=status, providers=listed, kinds=KINDS, values=form.values(), error=message
        )
    page.audit("provider.register", saved["provider_id"], "ok", kind=saved["kind"])
    page.flash("ok", page.t("providers.saved", provider=saved["provider_id"]))
    return page.redirect("/providers")
