"""What every page handler gets: the signed-in operator, their language, the services, and the page tools.

`signed_in` is the dependency of every page that needs an operator: without a live session it sends
the browser to the sign-in page (and back afterwards). `Page.form()` is the only way a handler reads
a POST body, and it refuses the body unless it carries the session's CSRF token, so no form handler
can forget the check.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from fastapi import Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from . import areamap, i18n
from .backends import Api, Backends
from .csrf import Csrf
from .forms import Form, read_form
from .oidc import OidcClient
from .sessions import Session, SessionStore
from .settings import ConsoleSettings

SESSION_COOKIE = "console_session"
LOGIN_COOKIE = "console_login"
OIDC_COOKIE = "console_oidc"  # binds a sign-in through the identity provider to the browser that began it
AREAS_TTL_S = 300.0  # the map's areas, fetched once per this period (they change only with a restart)
audit_log = structlog.get_logger("incentives_console.audit")


class SignInRequired(Exception):
    """No live session: the handler answers with a redirect to the sign-in page."""


class Refused(Exception):
    """A request the console will not act on (CSRF, a foreign origin, a bad form): an error page."""

    def __init__(self, status: int, key: str, detail: str = "") -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.detail = detail


@dataclass
class SignInLimiter:
    """Wrong tokens per client address: after `max_failures` in `window_s`, the address must wait."""

    max_failures: int
    window_s: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def blocked(self, client: str, now: float) -> bool:
        recent = self._failures.get(client)
        while recent and now - recent[0] > self.window_s:
            recent.popleft()
        return bool(recent) and len(recent or ()) >= self.max_failures

    def failed(self, client: str, now: float) -> None:
        if len(self._failures) > 10_000:  # a scan from many addresses must not grow this without bound
            self._failures.clear()
        self._failures.setdefault(client, deque()).append(now)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class Console:
    """The console's long-lived parts, built once in create_app."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.sessions = SessionStore(
            idle_s=settings.session_idle_s, max_s=settings.session_max_s, capacity=settings.max_sessions
        )
        self.csrf = Csrf(settings.session_secret.get_secret_value())
        self.backends = Backends(settings.service_urls(), settings.service_timeout_s)
        self.signin_limiter = SignInLimiter(settings.signin_max_failures, settings.signin_window_s)
        self.oidc = (
            OidcClient(
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret.get_secret_value(),
                scopes=settings.oidc_scopes,
                name_claim=settings.oidc_name_claim,
                operator_claim=settings.oidc_operator_claim,
                operator_value=settings.oidc_operator_value,
                http=self.backends.http,
            )
            if settings.oidc_issuer
            else None
        )
        self.zone = ZoneInfo(settings.timezone)
        self.areas = areamap.AreasCache(ttl_s=AREAS_TTL_S)
        self.templates = Environment(
            loader=PackageLoader("incentives_console", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = self._when
        self.templates.filters["q"] = lambda value: quote(str(value), safe="")

    def _when(self, value: str | datetime | None, seconds: bool = False) -> str:
        """A time from an API (ISO 8601) in the business time zone, as staff read it."""
        if value in (None, ""):
            return "–"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert moment is not None
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def locale(self, request: Request) -> str:
        chosen = i18n.known(request.cookies.get(i18n.COOKIE))
        return chosen or i18n.negotiate(request.headers.get("accept-language"), self.settings.default_locale)

    def secure(self, request: Request) -> bool:
        return self.settings.cookie_secure == "always" or request.url.scheme == "https"

    def set_cookie(self, response: Response, request: Request, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            secure=self.secure(request),
            samesite=self.settings.cookie_samesite,
        )


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


@dataclass
class Page:
    """One request as a page handler sees it."""

    request: Request
    console: Console
    locale: str
    sid: str | None = None
    session: Session | None = None
    login_nonce: str | None = None  # the sign-in page only: set as a cookie with the response

    @property
    def t(self) -> i18n.Translator:
        return i18n.Translator(self.locale)

    @property
    def api(self) -> Api:
        assert self.session is not None
        return self.console.backends.as_operator(self.session.token, self.session.acting)

    @property
    def operator(self) -> str:
        assert self.session is not None
        return self.session.actor

    def csrf_token(self) -> str:
        if self.sid:
            return self.console.csrf.token(self.sid)
        if self.login_nonce is None:
            self.login_nonce = self.request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        return self.console.csrf.login_token(self.login_nonce)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        context = {
            "t": self.t,
            "locale": self.locale,
            "locales": i18n.LOCALES,
            "operator": self.session.actor if self.session else None,
            "signed_in_at": self.session.signed_in_at if self.session else None,
            "flashes": self.session.take_flashes() if self.session else [],
            "csrf_token": self.csrf_token,
            "path": self.request.url.path,
            "here": self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else ""),
            **values,
        }
        html = self.console.templates.get_template(template).render(context)
        response = HTMLResponse(html, status_code=status)
        if self.login_nonce is not None and self.request.cookies.get(LOGIN_COOKIE) != self.login_nonce:
            self.console.set_cookie(response, self.request, LOGIN_COOKIE, self.login_nonce, max_age=3600)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def flash(self, kind: str, message: str) -> None:
        if self.session is not None:
            self.session.flash(kind, message)

    async def form(self) -> Form:
        """The POST body, only if it carries this session's CSRF token (else 403, nothing done)."""
        form = await read_form(self.request, self.console.settings.max_form_bytes)
        if not self.console.csrf.valid(self.sid, form.get("csrf_token")):
            self.audit("csrf_refused", self.request.url.path, "refused")
            raise Refused(403, "error.csrf")
        return form

    def audit(self, action: str, target: str, outcome: str, **details: Any) -> None:
        """The console's own record of what an operator did through it (the services keep theirs)."""
        audit_log.info(
            "console.action",
            operator=self.session.actor if self.session else None,
            action=action,
            target=target,
            outcome=outcome,
            client=self.request.client.host if self.request.client else None,
            **details,
        )


def _page(request: Request) -> Page:
    console = console_of(request)
    return Page(request, console, console.locale(request))


async def public(request: Request) -> Page:
    """A page anyone may see (the sign-in page): the session, if there is one, is still loaded."""
    page = _page(request)
    sid = request.cookies.get(SESSION_COOKIE)
    page.session = page.console.sessions.get(sid)
    page.sid = sid if page.session else None
    return page


async def signed_in(request: Request) -> Page:
    """A page for a signed-in operator; otherwise the browser is sent to sign in, and back."""
    page = await public(request)
    if page.session is None:
        raise SignInRequired
    if request.method == "POST":
        site = request.headers.get("sec-fetch-site")
        if site not in (None, "same-origin", "none"):
            # A browser says where a request comes from; a form posted by another site is refused even
            # before its (missing) CSRF token is looked at.
            page.audit("cross_site_post_refused", request.url.path, "refused", sec_fetch_site=site)
            raise Refused(403, "error.cross_site")
    return page
