"""Personal numbers kept only as keyed digests: members can be found by phone or identity number
without either being stored (docs/security-intake.md, "Personal data").

HMAC-SHA256 under a key from configuration (INCENTIVES_PII_KEY), never in the database, so a copy
of the database alone cannot be searched by guessing the (small) space of phone numbers. Values
are normalised first so that the same number written two ways finds the same member.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum

_PHONE_NOISE = re.compile(r"[\s\-().]")
MIN_KEY_CHARS = 32


class PiiKind(StrEnum):
    PHONE = "phone"
    ID_NUMBER = "id_number"


def normalise(kind: PiiKind, value: str) -> str:
    """One spelling per number: phones without separators or China's +86/0086, IDs upper-case."""
    v = value.strip()
    if kind is PiiKind.PHONE:
        v = _PHONE_NOISE.sub("", v)
        for prefix in ("+86", "0086"):
            if v.startswith(prefix) and len(v) > len(prefix) + 7:
                v = v[len(prefix) :]
        return v
    return v.upper()


class PiiHasher:
    """Keyed lookup digests; the kind is part of the message, so a phone never matches an ID."""

    def __init__(self, key: str) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(f"INCENTIVES_PII_KEY must have at least {MIN_KEY_CHARS} characters")
        self._key = key.encode()

    def digest(self, kind: PiiKind, value: str) -> bytes:
        message = f"{kind.value}:{normalise(kind, value)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()


_hasher: PiiHasher | None = None


def configure(key: str) -> None:
    """Set at service start from settings (like logging); without a key no digest is stored."""
    global _hasher
    _hasher = PiiHasher(key) if key else None


def hasher() -> PiiHasher | None:
    return _hasher
