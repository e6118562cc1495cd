"""Member-scoped tokens: short-lived HS256 JWTs (PyJWT) that let one rider read only their own data.

The gateway asks a service for one (`POST /v1/member-tokens`, gateway or operator role) or an
operator mints one (`incentives member-token M`); the rider app then calls the API with it directly.
Keys come from INCENTIVES_MEMBER_TOKEN_KEYS: `kid:secret` entries, comma-separated. The first
entry signs; every entry verifies (the header's `kid` picks the key), so a key is rotated by putting
the new one first and removing the old once the longest-lived token signed with it has expired.

Verification is strict on purpose: the token's three parts must be canonical base64url (PyJWT
alone accepts stray padding, so `token + "="` would verify: one token, one spelling), exactly
`alg: HS256` (no `none`, no algorithm confusion), a known `kid`, `aud` ours, `exp` in the future and
a lifetime no longer than MAX_TTL_S (a token that claims a year is refused even with a valid
signature), `sub` a valid member id. Signature and claims are PyJWT's checks; the rest is here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

AUDIENCE = "incentives-member"
ALGORITHM = "HS256"
MAX_TTL_S = 24 * 3600
DEFAULT_TTL_S = 15 * 60
MIN_KEY_LENGTH = 32
# Clocks of the minting and the checking processes differ a little; no more than this.
LEEWAY_S = 30
_MEMBER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_KID = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class InvalidMemberToken(Exception):
    """The token is not one we issued, or no longer valid; the message says which check failed."""


class MemberTokenConfigError(ValueError):
    pass


def _canonical_b64url(part: str) -> bytes:
    """Decode one part, refusing every other spelling of the same bytes (padding, stray bits, other characters)."""
    if not _B64URL.match(part) or len(part) % 4 == 1:
        raise InvalidMemberToken("not base64url")
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidMemberToken("not base64url") from None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != part:
        raise InvalidMemberToken("not base64url")
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidMemberToken("not JSON") from None
    if not isinstance(value, dict):
        raise InvalidMemberToken("not a JSON object")
    return value


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


@dataclass(frozen=True)
class MintedToken:
    token: str
    member_id: str
    expires_at: datetime


class MemberTokenKeys:
    """The configured signing keys; `MemberTokenKeys.parse("")` is a configuration with none (disabled)."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        self._keys = keys
        self._by_kid = dict(keys)

    @classmethod
    def parse(cls, config: str) -> MemberTokenKeys:
        keys: list[tuple[str, bytes]] = []
        for entry in (e.strip() for e in config.split(",")):
            if not entry:
                continue
            kid, sep, secret = entry.partition(":")
            if not sep or not _KID.match(kid):
                raise MemberTokenConfigError("each member-token key is `kid:secret`, kid of A-Z a-z 0-9 _ . -")
            if len(secret) < MIN_KEY_LENGTH:
                raise MemberTokenConfigError(f"member-token key {kid} is shorter than {MIN_KEY_LENGTH} characters")
            if any(k == kid for k, _ in keys):
                raise MemberTokenConfigError(f"member-token key id {kid} appears twice")
            keys.append((kid, secret.encode()))
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def mint(self, member_id: str, ttl_s: int, now: datetime | None = None) -> MintedToken:
        if not self._keys:
            raise MemberTokenConfigError("no member-token keys are configured")
        if not _MEMBER_ID.match(member_id):
            raise ValueError("not a member id")
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl must be 1..{MAX_TTL_S} seconds")
        now = now or datetime.now(UTC)
        iat = int(now.timestamp())
        kid, key = self._keys[0]
        claims = {"sub": member_id, "aud": AUDIENCE, "iat": iat, "exp": iat + ttl_s}
        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})
        return MintedToken(token=token, member_id=member_id, expires_at=datetime.fromtimestamp(iat + ttl_s, UTC))

    def verify(self, token: str, now: datetime | None = None) -> str:
        """The member id the token was issued for; raises InvalidMemberToken with the failed check."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidMemberToken("not a JWT")
        header = _json_object(_canonical_b64url(parts[0]))
        _canonical_b64url(parts[1])
        _canonical_b64url(parts[2])
        if header.get("alg") != ALGORITHM:
            raise InvalidMemberToken("algorithm not allowed")
        kid = header.get("kid")
        key = self._by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidMemberToken("unknown key id")
        try:
            # PyJWT checks the signature (constant time), the audience and that the claims are there;
            # time is checked below against the caller's clock, with the lifetime PyJWT knows nothing of.
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["exp", "iat", "aud", "sub"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            raise InvalidMemberToken("bad signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidMemberToken(
                {"exp": "exp and iat are required", "iat": "exp and iat are required", "aud": "wrong audience"}.get(
                    exc.claim, "no valid subject"
                )
            ) from None
        except jwt.InvalidAudienceError:
            raise InvalidMemberToken("wrong audience") from None
        except jwt.exceptions.InvalidSubjectError:
            raise InvalidMemberToken("no valid subject") from None
        except jwt.DecodeError as exc:
            raise InvalidMemberToken("not a JSON object" if "object" in str(exc) else "not JSON") from None
        except jwt.InvalidTokenError as exc:  # any other claim PyJWT refuses
            raise InvalidMemberToken(f"invalid: {type(exc).__name__}") from None
        exp, iat, sub = claims.get("exp"), claims.get("iat"), claims.get("sub")
        if not (isinstance(exp, int) and isinstance(iat, int)) or isinstance(exp, bool) or isinstance(iat, bool):
            raise InvalidMemberToken("exp and iat are required")
        moment = (now or datetime.now(UTC)).timestamp()
        if exp <= moment - LEEWAY_S:
            raise InvalidMemberToken("expired")
        if iat > moment + LEEWAY_S or exp - iat > MAX_TTL_S:
            raise InvalidMemberToken("lifetime not allowed")
        if not isinstance(sub, str) or not _MEMBER_ID.match(sub):
            raise InvalidMemberToken("no valid subject")
        return sub
