"""The four services' HTTP APIs, called server-side with the signed-in operator's own token.

Each call carries that operator's bearer token, never one of the console's: a service checks the
operator's role itself and records the operator (its name, or its token's fingerprint) as the actor of what it
changes, exactly as for a call made with curl. The console adds no authority of its own.

The one exception is an operator signed in through the office's identity provider (oidc.py): they
hold no token, so the calls carry the console's own (a named entry the services list as delegating)
and `X-Acting-Operator: <name>`, and the services record that operator as the actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from incentives_kernel.auth import ACTING_HEADER


class ServiceError(Exception):
    """A service refused (4xx/5xx with the error shape) or could not be reached (status 0)."""

    def __init__(self, service: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{service}: {status} {code}: {message}")
        self.service = service
        self.status = status
        self.code = code
        self.message = message

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def correctable(self) -> bool:
        """A refusal of what the operator asked (4xx but 401): shown beside the form, not as an error page."""
        return 400 <= self.status < 500 and self.status != 401


def _error(service: str, response: httpx.Response) -> ServiceError:
    try:
        body = response.json()
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        details = error.get("details")
        if isinstance(details, list) and details:
            # Validation errors: say which field and what, as the service put it.
            parts = [f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg', '')}" for d in details[:5]]
            message = f"{message} ({'; '.join(parts)})"
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", f"HTTP {response.status_code}"
    return ServiceError(service, response.status_code, code, message)


class Backends:
    """One connection pool to the services for the whole console."""

    def __init__(self, urls: dict[str, str], timeout_s: float) -> None:
        self.urls = urls
        self.http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    def as_operator(self, token: str, acting: str | None = None) -> Api:
        return Api(self, token, acting)

    async def ready(self, service: str) -> bool:
        try:
            return (await self.http.get(self.urls[service] + "/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass(frozen=True)
class Api:
    backends: Backends
    token: str
    acting: str | None = None  # percent-encoded into X-Acting-Operator (header values are Latin-1)

    async def call(
        self, service: str, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        """The decoded JSON answer; ServiceError for anything but 2xx, or when the service is unreachable."""
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.acting is not None:
            headers[ACTING_HEADER] = quote(self.acting, safe="")
        try:
            response = await self.backends.http.request(
                method,
                self.backends.urls[service] + path,
                params=query,
                json=json,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise ServiceError(service, 0, "unreachable", type(exc).__name__) from None
        if response.status_code >= 300:
            raise _error(service, response)
        return response.json() if response.content else None

    async def get(self, service: str, path: str, **params: Any) -> Any:
        return await self.call(service, "GET", path, params=params)

    async def post(self, service: str, path: str, json: Any = None) -> Any:
        return await self.call(service, "POST", path, json=json)

    async def delete(self, service: str, path: str) -> Any:
        return await self.call(service, "DELETE", path)
