"""Sign-in with an operator token, sign-out, and the language switch."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from .. import i18n
from ..backends import ServiceError
from ..forms import read_form
from ..web import LOGIN_COOKIE, SESSION_COOKIE, Page, Refused, public, signed_in

router = APIRouter()

MAX_TOKEN_LENGTH = 512


def safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (`//evil`, `/\\evil`, `https://...`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
async def login_page(next: str = "/", expired: bool = False, page: Page = Depends(public)) -> Response:
    if page.session is not None:
        return page.redirect(safe_next(next))
    return page.render("login.html", next=safe_next(next), expired=expired, error=None)


@router.post("/login")
async def login(page: Page = Depends(public)) -> Response:
    console = page.console
    form = await read_form(page.request, console.settings.max_form_bytes)
    if not console.csrf.login_valid(page.request.cookies.get(LOGIN_COOKIE), form.get("csrf_token")):
        page.audit("signin_csrf_refused", "/login", "refused")
        raise Refused(403, "error.csrf")
    next_page = safe_next(form.get("next"))
    client = page.request.client.host if page.request.client else "?"
    now = time.monotonic()

    def again(key: str, status: int) -> Response:
        page.audit("signin", "/login", "refused", reason=key)
        return page.render("login.html", status=status, next=next_page, expired=False, error=page.t(key))

    if console.signin_limiter.blocked(client, now):
        return again("signin.too_many", 429)
    token = form.get("token")
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable() or " " in token:
        console.signin_limiter.failed(client, now)
        return again("signin.invalid", 401)
    try:
        # The reports service says whose token this is, and the actor the services record it as
        # (operator:<name> for a named entry, else operator:<fingerprint>).
        me = await console.backends.as_operator(token).get("reports", "/v1/whoami")
        role, actor = str(me["role"]), str(me["actor"])
    except ServiceError as exc:
        if exc.status == 401:
            console.signin_limiter.failed(client, now)
            return again("signin.invalid", 401)
        return again("signin.cannot_check", 503)
    except (KeyError, TypeError):
        return again("signin.cannot_check", 503)
    if role != "operator":
        console.signin_limiter.failed(client, now)
        return again("signin.not_operator", 403)
    console.signin_limiter.succeeded(client)
    console.sessions.drop(page.request.cookies.get(SESSION_COOKIE))  # never carry an old session over
    sid, session = console.sessions.create(token, actor)
    page.session = session
    page.audit("signin", "/login", "ok")
    response = page.redirect(next_page)
    console.set_cookie(response, page.request, SESSION_COOKIE, sid, max_age=console.settings.session_max_s)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(page: Page = Depends(signed_in)) -> Response:
    await page.form()
    page.audit("signout", "/logout", "ok")
    page.console.sessions.drop(page.sid)
    response = page.redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{locale}")
async def switch_language(locale: str = Path(max_length=16), next: str = "/", page: Page = Depends(public)) -> Response:
    chosen = i18n.known(locale)
    response = page.redirect(safe_next(next))
    if chosen:
        page.console.set_cookie(response, page.request, i18n.COOKIE, chosen, max_age=365 * 24 * 3600)
    return response
