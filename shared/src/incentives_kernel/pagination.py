"""Keyset pagination: opaque cursors (base64url JSON of the last row's sort key), capped limits."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .http_errors import ApiError

MAX_LIMIT = 200


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned") from None
    if not isinstance(key, list):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned")
    return key
