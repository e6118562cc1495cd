"""Member lookup: by phone or identity number (the points service compares keyed digests; the number is
sent in a POST body only, never in a URL), then the member's balance, ledger and redemptions."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Path, Query
from incentives_kernel.events import ID_PATTERN
from starlette.responses import RedirectResponse, Response

from ..backends import ServiceError
from ..web import Page, signed_in

router = APIRouter()

PAGE_SIZE = 50


@router.get("/members")
async def members(page: Page = Depends(signed_in)) -> Response:
    return page.render("members.html", found=None, error=None)


@router.get("/members/find")
async def find_member(member_id: str = Query(pattern=ID_PATTERN), page: Page = Depends(signed_in)) -> Response:
    return page.redirect(f"/members/{member_id}")


@router.get("/members/lookup")
async def lookup_page() -> Response:
    """Where a page shown after a lookup points back to (its language switch, say): the form."""
    return RedirectResponse("/members", status_code=303)


@router.post("/members/lookup")
async def lookup(page: Page = Depends(signed_in)) -> Response:
    form = await page.form()
    phone, id_number = form.get("phone"), form.get("id_number")
    body = {"phone": phone} if phone else {"id_number": id_number} if id_number else {}
    by = "phone" if phone else "id_number"
    try:
        found = (await page.api.post("points", "/v1/members/lookup", body))["member_ids"]
    except ServiceError as exc:
        if not exc.correctable:
            raise
        page.audit("member.lookup", by, "refused", code=exc.code)  # never the number itself
        return page.render("members.html", status=exc.status, found=None, error=exc.message)
    page.audit("member.lookup", by, "ok", found=len(found))
    if len(found) == 1:
        return page.redirect(f"/members/{found[0]}")
    return page.render("members.html", found=found, error=None)


@router.get("/members/{member_id}")
async def show_member(
    member_id: str = Path(pattern=ID_PATTERN),
    ledger_cursor: str = Query("", max_length=512),
    redemptions_cursor: str = Query("", max_length=512),
    page: Page = Depends(signed_in),
) -> Response:
    balance, ledger, redemptions = await asyncio.gather(
        page.api.get("points", f"/v1/members/{member_id}/balance"),
        page.api.get("points", f"/v1/members/{member_id}/ledger", limit=PAGE_SIZE, cursor=ledger_cursor),
        page.api.get("rewards", f"/v1/members/{member_id}/redemptions", limit=PAGE_SIZE, cursor=redemptions_cursor),
    )
    page.audit("member.view", member_id, "ok")
    return page.render(
        "member.html",
        member_id=member_id,
        balance=balance,
        ledger=ledger,
        redemptions=redemptions,
        ledger_cursor=ledger_cursor,
        redemptions_cursor=redemptions_cursor,
    )
