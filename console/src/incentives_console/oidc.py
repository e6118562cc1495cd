"""Sign-in through the office's OpenID Connect provider: the authorization code flow with PKCE and a nonce.

Where CONSOLE_OIDC_ISSUER is set, the sign-in page offers the provider beside the operator token. The
console is a confidential client: it sends the browser to the provider with a fresh `state`, `nonce`
and PKCE challenge (RFC 7636, S256), and on the way back exchanges the code at the token endpoint
(with its client secret and the PKCE verifier) and checks the ID token itself (OIDC Core 3.1.3.7):
signed by a key in the provider's JWKS with an asymmetric algorithm (never `none` or HS*, so the
client secret cannot sign one), `iss` the configured issuer, `aud` holding the client id (`azp` it when
there are several), `exp`/`iat` within a minute's leeway, the `nonce` the one sent.

The `state` is single-use and bound to the browser that started the sign-in (a random value in a
short-lived cookie, kept here only as its digest): a callback URL carried to another browser (login
CSRF, a planted session) finds no sign-in to finish.

Who may run the programme is the provider's word through one claim (CONSOLE_OIDC_OPERATOR_CLAIM,
`groups` by default) holding CONSOLE_OIDC_OPERATOR_VALUE; the operator's name (the actor the services
record, `operator:<name>`) is the CONSOLE_OIDC_NAME_CLAIM claim, `preferred_username` by default.
The services never see the provider: the console calls them with its own token, an entry the services
list in INCENTIVES_DELEGATING_OPERATORS, and names the signed-in operator in X-Acting-Operator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx
import jwt
from incentives_kernel.auth import check_operator_name

# Asymmetric only: an HS* token would be verified with the client secret, which the console also holds.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# The algorithms each JWK key type can verify (RFC 7518 6, RFC 8037).
KEY_TYPES = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}
LEEWAY_S = 60
PENDING_TTL_S = 600  # a sign-in started and not finished within ten minutes is forgotten
PENDING_MAX = 10_000
DISCOVERY_TTL_S = 3600
JWKS_REFRESH_MIN_S = 60  # an unknown key id refetches the JWKS (rotation), at most this often


class OidcError(Exception):
    """A sign-in the console will not complete: `key` is what the operator is told, `detail` is logged."""

    def __init__(self, key: str, detail: str, status: int = 401) -> None:
        super().__init__(detail)
        self.key = key
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class Identity:
    name: str  # as the services will record the operator: operator:<name>
    subject: str  # the provider's `sub`


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    jwks_uri: str
    basic_auth: bool  # client_secret_basic (the default), else client_secret_post


@dataclass(frozen=True)
class Pending:
    binding: bytes  # SHA-256 of the value in the browser's cookie
    nonce: str
    verifier: str
    next: str
    redirect_uri: str
    started: float


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def operator_of(claims: dict[str, Any], *, name_claim: str, operator_claim: str, operator_value: str) -> Identity:
    """The operator these ID token claims stand for, or OidcError (403) if the provider does not say so."""
    granted = claims.get(operator_claim)
    values = granted if isinstance(granted, list) else [granted] if isinstance(granted, str) else []
    if operator_value not in values:
        raise OidcError("signin.oidc_not_operator", f"{operator_claim} does not hold {operator_value!r}", 403)
    name = claims.get(name_claim)
    if not isinstance(name, str):
        raise OidcError("signin.oidc_no_name", f"the ID token has no {name_claim} claim", 403)
    try:
        check_operator_name(name, f"the {name_claim} claim")
    except ValueError as exc:
        raise OidcError("signin.oidc_no_name", str(exc), 403) from None
    return Identity(name, str(claims["sub"]))


class PendingSignIns:
    """Sign-ins under way, by state: bounded, expiring, each taken once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._pending: OrderedDict[str, Pending] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, state: str, pending: Pending) -> None:
        while self._pending and (
            len(self._pending) >= PENDING_MAX
            or self.clock() - next(iter(self._pending.values())).started > PENDING_TTL_S
        ):
            self._pending.popitem(last=False)
        self._pending[state] = pending

    def take(self, state: str, binding: str | None) -> Pending | None:
        """The sign-in `state` started in the browser holding `binding`; None otherwise (and it is gone)."""
        pending = self._pending.pop(state, None)
        if pending is None or binding is None or self.clock() - pending.started > PENDING_TTL_S:
            return None
        if not hmac.compare_digest(pending.binding, hashlib.sha256(binding.encode()).digest()):
            return None
        return pending


class OidcClient:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: str,
        name_claim: str,
        operator_claim: str,
        operator_value: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.name_claim = name_claim
        self.operator_claim = operator_claim
        self.operator_value = operator_value
        self.http = http
        self.clock = clock
        self.pending = PendingSignIns(clock)
        self._endpoints: tuple[float, Endpoints] | None = None
        # kid -> (key, its kty, the alg the JWK declares if it does)
        self._keys: dict[str, tuple[jwt.PyJWK, str, str | None]] = {}
        self._keys_at = -float(JWKS_REFRESH_MIN_S)

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise OidcError("signin.oidc_unreachable", f"{url}: {type(exc).__name__}", 503) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise OidcError("signin.oidc_failed", f"{url}: HTTP {response.status_code} {error or ''}".strip(), 502)
        return body

    async def endpoints(self) -> Endpoints:
        """The provider's discovery document, checked to be the configured issuer's, kept an hour."""
        if self._endpoints and self.clock() - self._endpoints[0] < DISCOVERY_TTL_S:
            return self._endpoints[1]
        doc = await self._json("GET", self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if doc.get("issuer") != self.issuer:
            raise OidcError("signin.oidc_failed", f"discovery names issuer {doc.get('issuer')!r}", 502)
        try:
            methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            found = Endpoints(
                str(doc["authorization_endpoint"]),
                str(doc["token_endpoint"]),
                str(doc["jwks_uri"]),
                basic_auth="client_secret_basic" in methods or "client_secret_post" not in methods,
            )
        except KeyError as exc:
            raise OidcError("signin.oidc_failed", f"discovery lacks {exc}", 502) from None
        if self.issuer.startswith("https://"):
            # The client secret, the code and the ID token go to these: never over plain http.
            plain = [u for u in (found.authorization, found.token, found.jwks_uri) if not u.startswith("https://")]
            if plain:
                raise OidcError("signin.oidc_failed", f"discovery names endpoints that are not https: {plain}", 502)
        self._endpoints = (self.clock(), found)
        return found

    async def begin(self, next_page: str, redirect_uri: str) -> tuple[str, str]:
        """(the provider's authorization URL, the binding value for the browser's cookie)."""
        endpoints = await self.endpoints()
        state, nonce, verifier, binding = (secrets.token_urlsafe(32) for _ in range(4))
        self.pending.put(
            state,
            Pending(hashlib.sha256(binding.encode()).digest(), nonce, verifier, next_page, redirect_uri, self.clock()),
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce_challenge(verifier),
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        separator = "&" if "?" in endpoints.authorization else "?"
        return f"{endpoints.authorization}{separator}{query}", binding

    async def finish(self, state: str, code: str, binding: str | None) -> tuple[Identity, str]:
        """(the operator, the page to go to) for the provider's answer to a sign-in this browser began."""
        pending = self.pending.take(state, binding)
        if pending is None:
            raise OidcError("signin.oidc_stale", "no sign-in with this state was begun in this browser", 400)
        endpoints = await self.endpoints()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.verifier,
        }
        headers = {"Accept": "application/json"}
        if endpoints.basic_auth:
            # RFC 6749 2.3.1: both parts form-encoded before they are joined.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        tokens = await self._json("POST", endpoints.token, data=form, headers=headers)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("signin.oidc_failed", "the token response has no id_token", 502)
        claims = await self.verify(id_token, pending.nonce)
        identity = operator_of(
            claims, name_claim=self.name_claim, operator_claim=self.operator_claim, operator_value=self.operator_value
        )
        return identity, pending.next

    async def _key(self, kid: str | None, endpoints: Endpoints) -> tuple[jwt.PyJWK, str, str | None]:
        if (kid is None or kid not in self._keys) and self.clock() - self._keys_at >= JWKS_REFRESH_MIN_S:
            jwks = await self._json("GET", endpoints.jwks_uri)
            keys: dict[str, tuple[jwt.PyJWK, str, str | None]] = {}
            for entry in jwks.get("keys", []):
                if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                    continue
                try:
                    keys[str(entry.get("kid"))] = (jwt.PyJWK(entry), str(entry.get("kty")), entry.get("alg"))
                except (jwt.PyJWKError, jwt.InvalidKeyError):
                    continue  # a key type this client cannot use; the others still count
            self._keys, self._keys_at = keys, self.clock()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))  # a provider with one key need not name it (OIDC Core 10.1)
        found = self._keys.get(str(kid)) if kid is not None else None
        if found is None:
            raise OidcError("signin.oidc_failed", f"the ID token's key {kid!r} is not in the provider's JWKS", 502)
        return found

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, if it is one this provider issued to this client for this sign-in."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.DecodeError as exc:
            raise OidcError("signin.oidc_failed", f"the ID token is not a JWT: {exc}", 502) from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise OidcError("signin.oidc_failed", f"the ID token is signed with {alg!r}", 502)
        key, kty, declared = await self._key(header.get("kid"), await self.endpoints())
        if declared not in (None, alg) or not alg.startswith(KEY_TYPES.get(kty, ("-",))):
            raise OidcError(
                "signin.oidc_failed", f"the key {header.get('kid')!r} is for {declared or kty}, not {alg}", 502
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[alg],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:  # InvalidTokenError, and InvalidKeyError for a key of another type
            raise OidcError("signin.oidc_failed", f"the ID token was refused: {exc}", 502) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("signin.oidc_failed", "the ID token has several audiences and azp is not ours", 502)
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
            raise OidcError("signin.oidc_failed", "the ID token's nonce is not this sign-in's", 502)
        return claims
