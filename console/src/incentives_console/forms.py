"""HTML form bodies (application/x-www-form-urlencoded), read with a size limit.

Parsed here with the standard library rather than through Starlette's form parser, which needs the
python-multipart package for even the plain encoding; the console's forms carry no files.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FIELDS = 200


class FormError(Exception):
    """The body is not a form we accept: too large, another encoding, not UTF-8, too many fields."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Form:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self._pairs:
            if key == name:
                return value.strip()
        return default

    def getlist(self, name: str) -> list[str]:
        return [value.strip() for key, value in self._pairs if key == name]

    def values(self) -> dict[str, str]:
        """The fields as shown back in a form after an error (the CSRF token left out)."""
        return {key: value for key, value in self._pairs if key != "csrf_token"}


async def read_form(request: Request, limit: int) -> Form:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormError(415, "form bodies are application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormError(413, f"form bodies are limited to {limit} bytes")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise FormError(400, "the form is not valid UTF-8 or has too many fields") from None
    return Form(pairs)
