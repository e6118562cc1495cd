"""The first thing every HTTP request meets: authentication of /v1 and the request size limit.

Authentication sits here, before routing and body parsing, so no /v1 route can be added without it
and an anonymous caller learns nothing (not whether a route exists, not why its body is wrong): any
/v1 request without a valid token gets 401. What the token may do (role, member scope) is decided
by the route's dependency (`ServiceRuntime.require`), which finds the caller in `request.state`.

The body limit is checked twice: on Content-Length, and on the bytes actually received, for a
chunked body or one that lies about its length. Either way the answer is 413 in the error shape.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import TokenAuth, bearer_token
from .http_errors import ApiError, error_body

PROTECTED_PREFIX = "/v1/"


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        error_body("payload_too_large", f"request bodies are limited to {limit} bytes"), status_code=413
    )


class HttpGuard:
    def __init__(
        self, app: ASGIApp, *, auth: TokenAuth, max_body_bytes: int, on_refused: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.auth = auth
        self.limit = max_body_bytes
        # Told "missing" or "invalid" for each 401: a burst of invalid tokens is someone guessing.
        self.on_refused = on_refused or (lambda _reason: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if scope["path"].startswith(PROTECTED_PREFIX) or scope["path"] == PROTECTED_PREFIX.rstrip("/"):
            try:
                caller = self.auth.authenticate(request)
            except ApiError as exc:
                # A valid token refused an acting operator (403/400) is not someone guessing tokens.
                headers = {}
                if exc.status == 401:
                    self.on_refused("missing" if bearer_token(request) is None else "invalid")
                    headers["WWW-Authenticate"] = "Bearer"
                body = error_body(exc.code, exc.message)
                await JSONResponse(body, status_code=exc.status, headers=headers)(scope, receive, send)
                return
            scope.setdefault("state", {})["caller"] = caller
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(self.limit)(scope, receive, send)
            return

        received = 0
        cut_off = False

        async def counted_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    cut_off = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not cut_off:  # whatever the app answers to a body we cut off is replaced by the 413
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyTooLarge:
            pass
        except Exception:
            if not cut_off:
                raise
        if cut_off:
            await _too_large(self.limit)(scope, receive, send)
