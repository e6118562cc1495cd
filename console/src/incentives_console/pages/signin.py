"""Sign-in with an operator token or through the office's identity provider, sign-out, the language switch."""

from __future__ import annotations

import html
import time

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import HTMLResponse, Response

from .. import i18n
from ..backends import ServiceError
from ..forms import read_form
from ..oidc import PENDING_TTL_S, OidcError
from ..web import LOGIN_COOKIE, OIDC_COOKIE, SESSION_COOKIE, Page, Refused, public, signed_in

router = APIRouter()

MAX_TOKEN_LENGTH = 512


def safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (`//evil`, `/\\evil`, `https://...`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login(
    page: Page, next_page: str, *, status: int = 200, expired: bool = False, error: str | None = None
) -> Response:
    settings = page.console.settings
    oidc_label = (settings.oidc_label or page.t("signin.oidc_default_label")) if page.console.oidc else None
    return page.render("login.html", status=status, next=next_page, expired=expired, error=error, oidc_label=oidc_label)


def _start_session(page: Page, next_page: str, token: str, actor: str, acting: str | None = None) -> Response:
    """A new session for this browser (never an old one carried over), then on to `next_page`."""
    console = page.console
    console.sessions.drop(page.request.cookies.get(SESSION_COOKIE))
    sid, session = console.sessions.create(token, actor, acting)
    page.session = session
    page.audit("signin", page.request.url.path, "ok", method="oidc" if acting else "token")
    response = page.redirect(next_page)
    console.set_cookie(response, page.request, SESSION_COOKIE, sid, max_age=console.settings.session_max_s)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/login")
async def login_page(next: str = "/", expired: bool = False, page: Page = Depends(public)) -> Response:
    if page.session is not None:
        return page.redirect(safe_next(next))
    return _login(page, safe_next(next), expired=expired)


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
        return _login(page, next_page, status=status, error=page.t(key))

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
    return _start_session(page, next_page, token, actor)


def _oidc_redirect_uri(page: Page) -> str:
    return page.console.settings.oidc_redirect_url or str(page.request.url_for("oidc_callback"))


@router.get("/login/oidc")
async def oidc_begin(next: str = "/", page: Page = Depends(public)) -> Response:
    """Off to the identity provider, with a sign-in bound to this browser."""
    oidc = page.console.oidc
    if oidc is None:
        raise Refused(404, "error.not_found")
    try:
        url, binding = await oidc.begin(safe_next(next), _oidc_redirect_uri(page))
    except OidcError as exc:
        page.audit("signin", "/login/oidc", "refused", reason=exc.key, detail=exc.detail)
        return _login(page, safe_next(next), status=exc.status, error=page.t(exc.key))
    response = page.redirect(url)
    # Lax whatever the session cookie's setting: the provider sends the browser back with a cross-site GET.
    response.set_cookie(
        OIDC_COOKIE,
        binding,
        max_age=PENDING_TTL_S,
        path="/login/oidc",
        httponly=True,
        secure=page.console.secure(page.request),
        samesite="lax",
    )
    return response


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(
    state: str = Query(default="", max_length=512),
    code: str = Query(default="", max_length=4096),
    error: str = Query(default="", max_length=256),
    page: Page = Depends(public),
) -> Response:
    """The provider's answer: the code is exchanged and the ID token checked, then the services are asked
    whether they take the console's word for this operator."""
    console = page.console
    if console.oidc is None:
        raise Refused(404, "error.not_found")
    binding = page.request.cookies.get(OIDC_COOKIE)

    def refuse(key: str, status: int, detail: str) -> Response:
        page.audit("signin", "/login/oidc/callback", "refused", method="oidc", reason=key, detail=detail)
        response = _login(page, "/", status=status, error=page.t(key))
        response.delete_cookie(OIDC_COOKIE, path="/login/oidc")
        return response

    if error or not code:
        console.oidc.pending.take(state, None)  # that sign-in is over either way
        return refuse("signin.oidc_denied", 401, error or "no code")
    try:
        identity, next_page = await console.oidc.finish(state, code, binding)
    except OidcError as exc:
        return refuse(exc.key, exc.status, exc.detail)
    token = console.settings.service_token.get_secret_value()
    try:
        me = await console.backends.as_operator(token, identity.name).get("reports", "/v1/whoami")
        role, actor, via = str(me["role"]), str(me["actor"]), me.get("via")
    except ServiceError as exc:
        if exc.status in (401, 403):
            return refuse("signin.oidc_not_delegating", 503, f"{exc.status} {exc.code}")
        return refuse("signin.cannot_check", 503, f"{exc.status} {exc.code}")
    except (KeyError, TypeError):
        return refuse("signin.cannot_check", 503, "whoami")
    if role != "operator" or via is None or actor != f"operator:{identity.name}":
        return refuse("signin.oidc_not_delegating", 503, f"whoami: {role} {actor} via {via}")
    response = _start_session(page, next_page, token, actor, acting=identity.name)
    if console.settings.cookie_samesite == "strict":
        # A Strict cookie is not sent along a redirect chain a cross-site page (the provider's) began;
        # a page of our own that moves on starts a same-site navigation, which carries it.
        location = html.escape(response.headers["location"])
        moving_on = HTMLResponse(
            f'<!doctype html><meta http-equiv="refresh" content="0;url={location}"><a href="{location}">&rarr;</a>'
        )
        moving_on.raw_headers += [(k, v) for k, v in response.raw_headers if k == b"set-cookie"]
        response = moving_on
    response.delete_cookie(OIDC_COOKIE, path="/login/oidc")
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
