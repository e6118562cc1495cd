"""Keyset pagination: opaque cursors (base64url JSON of the last row's sort key), capped limits."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from .http_errors import ApiError

MAX_LIMIT = 200
# Our cursors are a few dozen characters; anything much longer is not one of them (and not worth decoding).
MAX_CURSOR_LENGTH = 512


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _invalid() -> ApiError:
    return ApiError(400, "invalid_cursor", "the cursor is not one this API returned")


def decode_cursor(cursor: str | None, *shape: type) -> list[Any] | None:
    """The sort key of a cursor, checked against `shape` (one type per element): 400 if it does not fit.

    `datetime` elements are carried as ISO strings and returned parsed.
    """
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise _invalid() from None
    if not isinstance(key, list) or len(key) != len(shape):
        raise _invalid()
    out: list[Any] = []
    for value, typ in zip(key, shape, strict=True):
        if typ is datetime:
            try:
                out.append(datetime.fromisoformat(value))
            except (TypeError, ValueError):
                raise _invalid() from None
        elif (typ is int and (isinstance(value, bool) or not isinstance(value, int))) or not isinstance(value, typ):
            raise _invalid()
        else:
            out.append(value)
    return out
