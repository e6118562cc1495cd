"""Security headers on every response, and no caching of anything but the stylesheet.

The pages run no script at all, so the policy allows none: `default-src 'none'` with only the
console's own stylesheet and inline SVG images. Pages show personal data (member ledgers, report
texts), so they are `no-store`: not kept by the browser or any proxy, not shown again by Back after
sign-out.
"""

from __future__ import annotations

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

# A bug's page: no stack trace, no template (the bug may be in one), both languages.
BUG_PAGE = (
    b'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>500</title>'
    b'<link rel="stylesheet" href="/static/console.css"><link rel="icon" href="data:,">'
    b'<main><div class="card"><h1 id="error-title">\xe5\x87\xba\xe9\x94\x99\xe4\xba\x86 / Something went wrong</h1>'
    b'<p>The console could not show this page; the error is in its log. <a href="/">Home</a></p></div></main></html>'
)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
COMMON = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
STATIC_PREFIX = "/static/"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC_PREFIX)
        https = scope.get("scheme") == "https"

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers += COMMON
                headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Here rather than in Starlette's outermost error middleware, whose page would go out
            # without these headers (and be cacheable).
            log.exception("console page failed", path=scope["path"])
            if started:
                raise
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/html; charset=utf-8")],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": BUG_PAGE})
