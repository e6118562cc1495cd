"""Voucher codes: 80 random bits in Crockford base32 with a mod-37 check character. Pure.

A code is unguessable (secrets, 2^80 possibilities) and a mistyped character or a swap of two
neighbours is caught by the check character before any lookup (Crockford's check symbol).
Readable aloud: no I, L, O or U in the body; grouped by four, e.g. `7K2M-9QXD-4RHT-WB3E-Q`.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
CHECK_ALPHABET = ALPHABET + "*~$=U"  # 37 check symbols
_BODY_CHARS = 16  # 16 x 5 bits = 80 bits
_DECODE = {c: i for i, c in enumerate(ALPHABET)} | {"O": 0, "I": 1, "L": 1}


def _value(body: str) -> int:
    value = 0
    for char in body:
        value = value * 32 + _DECODE[char]
    return value


def _check(body: str) -> str:
    return CHECK_ALPHABET[_value(body) % 37]


def _group(body: str) -> str:
    return "-".join(body[i : i + 4] for i in range(0, len(body), 4))


def issue() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(_BODY_CHARS))
    return f"{_group(body)}-{_check(body)}"


def normalise(code: str) -> str | None:
    """The canonical form of a typed code (case, dashes and look-alikes forgiven), or None if invalid."""
    text = code.strip().upper().replace("-", "").replace(" ", "")
    if len(text) != _BODY_CHARS + 1:
        return None
    body, check = text[:-1], text[-1]
    if any(c not in _DECODE for c in body) or check not in CHECK_ALPHABET:
        return None
    canonical = "".join(ALPHABET[_DECODE[c]] for c in body)
    if _check(canonical) != check:
        return None
    return f"{_group(canonical)}-{check}"


def is_valid(code: str) -> bool:
    return normalise(code) is not None
