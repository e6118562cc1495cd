"""Bearer tokens with roles `operator` and `gateway`, held only as SHA-256 digests.

Tokens come from configuration (INCENTIVES_OPERATOR_TOKENS, INCENTIVES_GATEWAY_TOKENS, each a
comma-separated list so a token can be rotated by adding the new one before removing the old).
An entry written `sha256:<hex>` is already a digest, so production config need not hold tokens in
clear. Comparison is constant-time over every configured digest.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

from fastapi import Request

from .http_errors import ApiError


class Role(StrEnum):
    OPERATOR = "operator"
    GATEWAY = "gateway"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _parse(config: str) -> list[bytes]:
    out = []
    for entry in (e.strip() for e in config.split(",")):
        if not entry:
            continue
        if entry.startswith("sha256:"):
            out.append(bytes.fromhex(entry.removeprefix("sha256:")))
        else:
            out.append(digest(entry))
    return out


class TokenAuth:
    def __init__(self, operator_tokens: str, gateway_tokens: str) -> None:
        self._digests = [(d, Role.OPERATOR) for d in _parse(operator_tokens)] + [
            (d, Role.GATEWAY) for d in _parse(gateway_tokens)
        ]

    def role_of(self, token: str) -> Role | None:
        presented = digest(token)
        found: Role | None = None
        for known, role in self._digests:  # no early exit: time does not depend on which matched
            if hmac.compare_digest(presented, known) and found is None:
                found = role
        return found

    @staticmethod
    def fingerprint(request: Request) -> str:
        """Which token called, without the token: the first 12 hex digits of its SHA-256 (for audit trails)."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        return digest(token.strip()).hex()[:12]

    def authenticate(self, request: Request) -> Role:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "a bearer token is required")
        role = self.role_of(token.strip())
        if role is None:
            raise ApiError(401, "unauthenticated", "the bearer token is not valid")
        return role
