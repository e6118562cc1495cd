"""Who is calling: operator and gateway bearer tokens (held only as SHA-256 digests) and member tokens.

Tokens come from configuration (INCENTIVES_OPERATOR_TOKENS, INCENTIVES_GATEWAY_TOKENS, each a
comma-separated list so a token can be rotated by adding the new one before removing the old).
An entry written `sha256:<hex>` is already a digest, so production config need not hold tokens in
clear. Comparison is constant-time over every configured digest.

Providers (a rider station, a partner shop, a hospital) hold provider tokens
(INCENTIVES_PROVIDER_TOKENS, entries `provider_id:token` or `provider_id:sha256:<hex>`): the role
`provider`, bound to that provider id (`Caller.provider_id`), for the voucher routes only.

A third kind of caller holds a member token (see `member_tokens`): it acts for one member only.
`Caller` carries that scope, and its checks are the one place object-level authorisation is decided:
- a member token naming another member (in the path or the body) gets 403: the caller named it, so
  saying "not yours" leaks nothing;
- an object fetched by its own id (a report, a redemption) that belongs to another member is
  reported as not found (404), so ids cannot be probed for existence.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request

from .http_errors import ApiError
from .member_tokens import InvalidMemberToken, MemberTokenKeys, looks_like_jwt


class Role(StrEnum):
    OPERATOR = "operator"
    GATEWAY = "gateway"
    MEMBER = "member"
    PROVIDER = "provider"


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


def _parse_providers(config: str) -> list[tuple[bytes, str]]:
    """`provider_id:token` entries -> (digest, provider id); the token may itself be `sha256:<hex>`."""
    out = []
    for entry in (e.strip() for e in config.split(",")):
        provider_id, sep, token = entry.partition(":")
        if not entry:
            continue
        if not sep or not provider_id or not token:
            raise ValueError("INCENTIVES_PROVIDER_TOKENS entries are provider_id:token")
        out += [(d, provider_id) for d in _parse(token)]
    return out


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its role, which token (fingerprint, never the token) and, for member
    tokens, the member it acts for."""

    role: Role
    fingerprint: str
    member_id: str | None = None
    provider_id: str | None = None

    def act_for(self, member_id: str) -> None:
        """403 unless this caller may act for `member_id` (operators and the gateway act for anyone)."""
        if self.role is Role.MEMBER and member_id != self.member_id:
            raise ApiError(403, "forbidden", "this token acts for another member")

    def sees(self, owner: str, named: str | None = None) -> bool:
        """May this caller see an object owned by `owner`? `named` is the member the request says it acts
        for (a gateway's `member_id` parameter): when given, the object must be that member's too."""
        if self.role is Role.MEMBER and owner != self.member_id:
            return False
        return named is None or owner == named

    @property
    def rate_key(self) -> str:
        """Whose budget a rate-limited call spends: the token, or for member tokens the member (every
        token minted for one member shares one budget, so minting more buys nothing)."""
        return f"member:{self.member_id}" if self.role is Role.MEMBER else f"token:{self.fingerprint}"


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenAuth:
    def __init__(
        self,
        operator_tokens: str,
        gateway_tokens: str,
        member_keys: MemberTokenKeys | None = None,
        provider_tokens: str = "",
    ) -> None:
        self._digests = [(d, Role.OPERATOR) for d in _parse(operator_tokens)] + [
            (d, Role.GATEWAY) for d in _parse(gateway_tokens)
        ]
        self._providers = _parse_providers(provider_tokens)
        self.member_keys = member_keys or MemberTokenKeys([])

    def provider_of(self, token: str) -> str | None:
        presented = digest(token)
        found: str | None = None
        for known, provider_id in self._providers:  # no early exit, as role_of
            if hmac.compare_digest(presented, known) and found is None:
                found = provider_id
        return found

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
        return digest(bearer_token(request) or "").hex()[:12]

    def caller(self, token: str) -> Caller | None:
        """The caller a presented token stands for, or None if it is not valid."""
        fingerprint = digest(token).hex()[:12]
        role = self.role_of(token)
        if role is not None:
            return Caller(role, fingerprint)
        provider_id = self.provider_of(token)
        if provider_id is not None:
            return Caller(Role.PROVIDER, fingerprint, provider_id=provider_id)
        if self.member_keys.enabled and looks_like_jwt(token):
            try:
                return Caller(Role.MEMBER, fingerprint, self.member_keys.verify(token))
            except InvalidMemberToken:
                return None
        return None

    def authenticate(self, request: Request) -> Caller:
        """The caller, or 401 (with `WWW-Authenticate: Bearer`) if no valid bearer token is presented."""
        token = bearer_token(request)
        if token is None:
            raise ApiError(401, "unauthenticated", "a bearer token is required")
        found = self.caller(token)
        if found is None:
            raise ApiError(401, "unauthenticated", "the bearer token is not valid")
        return found
