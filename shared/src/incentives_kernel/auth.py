"""Who is calling: operator and gateway bearer tokens (held only as SHA-256 digests) and member tokens.

Tokens come from configuration (INCENTIVES_OPERATOR_TOKENS, INCENTIVES_GATEWAY_TOKENS, each a
comma-separated list so a token can be rotated by adding the new one before removing the old).
An entry written `sha256:<hex>` is already a digest, so production config need not hold tokens in
clear. Comparison is constant-time over every configured digest.

An operator entry may name the person it belongs to, `name:token` (or `name:sha256:<hex>`): the
services then record `operator:<name>` as the actor of what that token does (stock changes, round
closes, ...), where an unnamed token is recorded by its fingerprint, `operator:<12 hex digits>`.
A person may have several entries (rotation: add the new one, then remove the old).

A delegating entry (INCENTIVES_DELEGATING_TOKENS, `name:token` or `name:sha256:<hex>`, the name
required: the console's, which signs operators in through the office's identity provider) is an
operator token that may also say who acts, with the header `X-Acting-Operator: <name>`
(percent-encoded UTF-8, as header values are Latin-1: `%E5%BC%A0%E4%BC%9F` for 张伟): the request is
then the operator `<name>` (`Caller.name`, recorded `operator:<name>`) with `Caller.via` naming the
delegating entry. Any other token presenting the header is refused (403), never silently taken for
itself: a caller that thinks it names someone must learn it does not.

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
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

from fastapi import Request

from .http_errors import ApiError
from .member_tokens import InvalidMemberToken, MemberTokenKeys, looks_like_jwt

ACTING_HEADER = "x-acting-operator"


class Role(StrEnum):
    OPERATOR = "operator"
    GATEWAY = "gateway"
    MEMBER = "member"
    PROVIDER = "provider"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# A person's name in an operator entry: letters (any script), digits, `.`, `_`, `-`; no `:` or `,`
# (the entry's separators) and no space, so an actor string reads the same in a log line and a table.
OPERATOR_NAME = re.compile(r"[^\W_][\w.-]{0,63}")
# A name that looks like a fingerprint could pass for another (unnamed) token in an audit trail.
_FINGERPRINT = re.compile(r"[0-9a-f]{12}")


def _entry_digest(entry: str) -> bytes:
    if entry.startswith("sha256:"):
        return bytes.fromhex(entry.removeprefix("sha256:"))
    return digest(entry)


def _parse(config: str) -> list[bytes]:
    return [_entry_digest(e) for e in (e.strip() for e in config.split(",")) if e]


def check_operator_name(name: str, where: str) -> str:
    """`name` if it may name an operator in an audit trail, else ValueError saying `where` it came from."""
    if not OPERATOR_NAME.fullmatch(name) or _FINGERPRINT.fullmatch(name):
        raise ValueError(
            f"{where}: an operator's name must be 1-64 letters, digits, '.', '_' or '-' (starting with a"
            " letter or digit) and not 12 hex digits"
        )
    return name


def parse_operators(config: str, variable: str = "INCENTIVES_OPERATOR_TOKENS") -> list[tuple[bytes, str | None]]:
    """INCENTIVES_OPERATOR_TOKENS: `token`, `sha256:<hex>`, `name:token` or `name:sha256:<hex>` entries.

    Raises ValueError (naming the entry's position, never its token) for a name that is not one."""
    out: list[tuple[bytes, str | None]] = []
    for n, entry in enumerate((e.strip() for e in config.split(",")), start=1):
        if not entry:
            continue
        name: str | None = None
        if ":" in entry and not entry.startswith("sha256:"):
            name, _, entry = entry.partition(":")
            check_operator_name(name, f"{variable} entry {n} (the name before ':')")
            if not entry:
                raise ValueError(f"{variable} entry {n} ({name}): no token after the name")
        out.append((_entry_digest(entry), name))
    return out


def parse_delegating(config: str) -> list[tuple[bytes, str]]:
    """INCENTIVES_DELEGATING_TOKENS: `name:token` or `name:sha256:<hex>` entries, each named."""
    out = []
    for n, (entry_digest, name) in enumerate(parse_operators(config, "INCENTIVES_DELEGATING_TOKENS"), start=1):
        if name is None:
            raise ValueError(f"INCENTIVES_DELEGATING_TOKENS entry {n}: name it (name:token), as `via` records it")
        out.append((entry_digest, name))
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
    name: str | None = None  # the person an operator token is configured for (`name:token`)
    provider_id: str | None = None  # the provider a provider token is bound to
    via: str | None = None  # the delegating operator entry that said this operator acts (X-Acting-Operator)

    @property
    def actor(self) -> str:
        """Who acted, as audit trails record it: `operator:<name>` for a named operator token, else
        `<role>:<token fingerprint>` (`member:<member id>` for a member token, `provider:<provider id>`
        for a provider's)."""
        if self.role is Role.MEMBER:
            return f"member:{self.member_id}"
        if self.role is Role.PROVIDER:
            return f"provider:{self.provider_id}"
        return f"{self.role}:{self.name or self.fingerprint}"

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
        delegating_tokens: str = "",
    ) -> None:
        # (digest, role, name): an operator's configured name, a provider token's provider id.
        delegating = parse_delegating(delegating_tokens)
        self._delegating = [d for d, _ in delegating]
        self._digests: list[tuple[bytes, Role, str | None]] = (
            [(d, Role.OPERATOR, name) for d, name in parse_operators(operator_tokens) + list(delegating)]
            + [(d, Role.GATEWAY, None) for d in _parse(gateway_tokens)]
            + [(d, Role.PROVIDER, provider_id) for d, provider_id in _parse_providers(provider_tokens)]
        )
        self.member_keys = member_keys or MemberTokenKeys([])

    def _match(self, token: str) -> tuple[Role, str | None] | None:
        presented = digest(token)
        found: tuple[Role, str | None] | None = None
        for known, role, name in self._digests:  # no early exit: time does not depend on which matched
            if hmac.compare_digest(presented, known) and found is None:
                found = (role, name)
        return found

    def role_of(self, token: str) -> Role | None:
        found = self._match(token)
        return found[0] if found else None

    def actor(self, request: Request) -> str:
        """Who is calling, for an audit trail (`Caller.actor`): the caller HttpGuard found, else the token's."""
        caller = getattr(request.state, "caller", None)
        if not isinstance(caller, Caller):
            caller = self.caller(bearer_token(request) or "")
        return caller.actor if caller else f"operator:{self.fingerprint(request)}"

    @staticmethod
    def fingerprint(request: Request) -> str:
        """Which token called, without the token: the first 12 hex digits of its SHA-256 (for audit trails)."""
        return digest(bearer_token(request) or "").hex()[:12]

    def caller(self, token: str) -> Caller | None:
        """The caller a presented token stands for, or None if it is not valid."""
        fingerprint = digest(token).hex()[:12]
        found = self._match(token)
        if found is not None:
            role, name = found
            if role is Role.PROVIDER:
                return Caller(role, fingerprint, provider_id=name)
            return Caller(role, fingerprint, name=name)
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
        acting = request.headers.get(ACTING_HEADER)
        if acting is None:
            return found
        presented = digest(token)
        if not any([hmac.compare_digest(presented, d) for d in self._delegating]):  # every one compared
            raise ApiError(403, "acting_refused", "this token may not say who acts (INCENTIVES_DELEGATING_TOKENS)")
        try:
            acting = check_operator_name(unquote(acting, errors="strict"), "X-Acting-Operator")
        except UnicodeDecodeError:
            raise ApiError(400, "bad_acting_operator", "X-Acting-Operator: not percent-encoded UTF-8") from None
        except ValueError as exc:
            raise ApiError(400, "bad_acting_operator", str(exc)) from None
        return Caller(Role.OPERATOR, found.fingerprint, name=acting, via=found.name)
