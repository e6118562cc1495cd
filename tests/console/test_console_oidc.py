"""OIDC sign-in's parts in process: against a real OpenID provider (oidc-provider-mock: authlib on Flask,
in a thread) for the flow, and against a provider this test plays (httpx's MockTransport) for every
ID token the console must refuse. The whole sign-in in Chromium is test_console_oidc_browser.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import jwt
import oidc_provider_mock
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from incentives_console.oidc import (
    PENDING_MAX,
    PENDING_TTL_S,
    OidcClient,
    OidcError,
    Pending,
    PendingSignIns,
    operator_of,
    pkce_challenge,
)
from incentives_console.settings import ConsoleSettings
from pydantic import ValidationError

ISSUER = "https://id.example.gov.cn"
CLIENT = "incentives-console"
GROUP = "incentives-operators"


def client(issuer: str, http: httpx.AsyncClient, **kw: Any) -> OidcClient:
    options: dict[str, Any] = {
        "issuer": issuer,
        "client_id": CLIENT,
        "client_secret": "console-secret",
        "scopes": "openid profile email",
        "name_claim": "preferred_username",
        "operator_claim": "groups",
        "operator_value": GROUP,
        "http": http,
    }
    return OidcClient(**(options | kw))


# --- pure parts ---------------------------------------------------------------------------------------


def test_pkce_challenge_is_rfc_7636s_example() -> None:
    # RFC 7636 appendix B.
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize("groups", [[GROUP], ["staff", GROUP], GROUP])
def test_an_operator_is_whoever_the_claim_says(groups: Any) -> None:
    claims = {"sub": "u-1", "preferred_username": "li.wei", "groups": groups}
    identity = operator_of(claims, name_claim="preferred_username", operator_claim="groups", operator_value=GROUP)
    assert (identity.name, identity.subject) == ("li.wei", "u-1")


@pytest.mark.parametrize(
    ("claims", "key"),
    [
        ({"preferred_username": "li.wei"}, "signin.oidc_not_operator"),
        ({"preferred_username": "li.wei", "groups": ["staff"]}, "signin.oidc_not_operator"),
        ({"preferred_username": "li.wei", "groups": f"{GROUP}-readonly"}, "signin.oidc_not_operator"),
        ({"preferred_username": "li.wei", "groups": [[GROUP]]}, "signin.oidc_not_operator"),
        ({"groups": [GROUP]}, "signin.oidc_no_name"),
        ({"preferred_username": "li wei", "groups": [GROUP]}, "signin.oidc_no_name"),
        ({"preferred_username": "0123456789ab", "groups": [GROUP]}, "signin.oidc_no_name"),  # a fingerprint's look
        ({"preferred_username": 7, "groups": [GROUP]}, "signin.oidc_no_name"),
    ],
)
def test_no_operator_without_the_group_and_a_usable_name(claims: dict[str, Any], key: str) -> None:
    with pytest.raises(OidcError) as refused:
        operator_of(
            {"sub": "u-1", **claims}, name_claim="preferred_username", operator_claim="groups", operator_value=GROUP
        )
    assert (refused.value.key, refused.value.status) == (key, 403)


def _pending(binding: str, started: float) -> Pending:
    import hashlib

    return Pending(hashlib.sha256(binding.encode()).digest(), "n", "v", "/next", "https://c/cb", started)


def test_a_pending_sign_in_is_taken_once_only_by_its_browser_and_expires() -> None:
    now = [1000.0]
    pending = PendingSignIns(clock=lambda: now[0])
    pending.put("s1", _pending("browser-a", now[0]))
    assert pending.take("s1", "browser-b") is None  # another browser: refused, and the state is spent
    assert pending.take("s1", "browser-a") is None
    pending.put("s2", _pending("browser-a", now[0]))
    assert pending.take("s2", None) is None  # no binding cookie at all
    pending.put("s3", _pending("browser-a", now[0]))
    taken = pending.take("s3", "browser-a")
    assert taken is not None and taken.next == "/next"
    assert pending.take("s3", "browser-a") is None  # used
    pending.put("s4", _pending("browser-a", now[0]))
    now[0] += PENDING_TTL_S + 1
    assert pending.take("s4", "browser-a") is None  # too late


def test_pending_sign_ins_are_bounded() -> None:
    now = [0.0]
    pending = PendingSignIns(clock=lambda: now[0])
    for n in range(PENDING_MAX + 50):
        pending.put(f"s{n}", _pending("b", now[0]))
    assert len(pending) == PENDING_MAX
    assert pending.take("s0", "b") is None and pending.take(f"s{PENDING_MAX + 49}", "b") is not None
    now[0] += PENDING_TTL_S + 1
    pending.put("late", _pending("b", now[0]))
    assert len(pending) == 1  # the expired ones went first


def test_settings_need_the_whole_oidc_configuration() -> None:
    base = {"env": "prod", "session_secret": "s" * 40}
    with pytest.raises(ValidationError, match="CONSOLE_OIDC_CLIENT_ID, CONSOLE_OIDC_CLIENT_SECRET"):
        ConsoleSettings(**base, oidc_issuer=ISSUER)
    full = {
        "oidc_client_id": CLIENT,
        "oidc_client_secret": "x",
        "oidc_operator_value": GROUP,
        "service_token": "t" * 40,
    }
    assert ConsoleSettings(**base, oidc_issuer=ISSUER, **full).oidc_issuer == ISSUER
    with pytest.raises(ValidationError, match="https://"):
        ConsoleSettings(**base, oidc_issuer="http://id.example.gov.cn", **full)
    assert ConsoleSettings(**base | {"env": "dev"}, oidc_issuer="http://localhost:9400", **full).oidc_issuer
    with pytest.raises(ValidationError, match="CONSOLE_SERVICE_TOKEN"):
        ConsoleSettings(**base, oidc_issuer=ISSUER, **full | {"service_token": ""})


# --- against a real OpenID provider -------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def _authorize(authorization_url: str, sub: str, claims: dict[str, Any]) -> httpx.Response:
    """What an operator does at the provider: the provider knows them, they press Authorize."""
    base = authorization_url.split("/oauth2/")[0]
    assert httpx.put(f"{base}/users/{quote(sub, safe='')}", json=claims).status_code == 204
    return httpx.post(authorization_url, data={"sub": sub})


async def test_the_code_flow_against_a_real_provider(provider: str) -> None:
    async with httpx.AsyncClient() as http:
        oidc = client(provider, http)
        url, binding = await oidc.begin("/rounds", "http://127.0.0.1:1/login/oidc/callback")
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["openid profile email"]
        assert query["redirect_uri"] == ["http://127.0.0.1:1/login/oidc/callback"]
        back = _authorize(url, "u-li", {"preferred_username": "li.wei", "groups": [GROUP, "staff"]})
        assert back.status_code == 302
        answer = parse_qs(urlsplit(back.headers["location"]).query)
        assert answer["state"] == query["state"]
        identity, next_page = await oidc.finish(answer["state"][0], answer["code"][0], binding)
        assert (identity.name, identity.subject, next_page) == ("li.wei", "u-li", "/rounds")
        # The code is spent, and so is the state.
        with pytest.raises(OidcError) as again:
            await oidc.finish(answer["state"][0], answer["code"][0], binding)
        assert again.value.key == "signin.oidc_stale"


async def test_a_real_providers_user_outside_the_group_is_no_operator(provider: str) -> None:
    async with httpx.AsyncClient() as http:
        oidc = client(provider, http)
        url, binding = await oidc.begin("/", "http://127.0.0.1:1/cb")
        back = _authorize(url, "u-guest", {"preferred_username": "guest", "groups": ["staff"]})
        answer = parse_qs(urlsplit(back.headers["location"]).query)
        with pytest.raises(OidcError) as refused:
            await oidc.finish(answer["state"][0], answer["code"][0], binding)
        assert (refused.value.key, refused.value.status) == ("signin.oidc_not_operator", 403)


async def test_a_provider_answering_for_another_issuer_is_refused(provider: str) -> None:
    async with httpx.AsyncClient() as http:
        # The same server reached by another name says another issuer: ID tokens would not match.
        oidc = client(provider.replace("localhost", "127.0.0.1"), http)
        oidc.issuer = provider.replace("localhost", "127.0.0.1") + "/"
        with pytest.raises(OidcError, match="discovery names issuer"):
            await oidc.begin("/", "http://127.0.0.1:1/cb")


# --- against a provider this test plays: the ID tokens the console must refuse -----------------------


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(key: Any, kid: str, alg: str | None) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
    public = json.loads(algorithm.to_jwk(key.public_key()))
    return public | {"kid": kid, "use": "sig"} | ({"alg": alg} if alg else {})


class PlayedProvider:
    """Discovery, JWKS and a token endpoint that answers with whatever ID token the test wants."""

    def __init__(self) -> None:
        self.keys = [_jwk(RSA_KEY, "rsa-1", "RS256"), _jwk(EC_KEY, "ec-1", None)]
        self.jwks_fetches = 0
        self.token_requests: list[httpx.Request] = []
        self.auth_methods = ["client_secret_basic"]
        self.token_endpoint = f"{ISSUER}/token"

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": self.token_endpoint,
                    "jwks_uri": f"{ISSUER}/jwks",
                    "token_endpoint_auth_methods_supported": self.auth_methods,
                },
            )
        if path == "/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": self.keys})
        if path == "/token":
            self.token_requests.append(request)
            return httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "id_token": self.nonce_token})
        return httpx.Response(404)

    nonce_token = ""


def _claims(this_nonce: str, /, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "u-li",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "nonce": this_nonce,
        "preferred_username": "li.wei",
        "groups": [GROUP],
    }
    return {k: v for k, v in (claims | overrides).items() if v is not None}


async def _sign_in(played: PlayedProvider, make_token: Callable[[str], str]) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(played.handle)) as http:
        oidc = client(ISSUER, http)
        url, binding = await oidc.begin("/", "https://console.example/login/oidc/callback")
        query = parse_qs(urlsplit(url).query)
        played.nonce_token = make_token(query["nonce"][0])
        return await oidc.finish(query["state"][0], "the-code", binding)


def rs256(claims: dict[str, Any], kid: str = "rsa-1", key: Any = RSA_KEY, alg: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


async def test_a_good_token_signs_in_and_the_exchange_is_a_confidential_clients() -> None:
    played = PlayedProvider()
    identity, _ = await _sign_in(played, lambda nonce: rs256(_claims(nonce)))
    assert identity.name == "li.wei"
    exchange = played.token_requests[0]
    form = parse_qs(exchange.content.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
    assert len(form["code_verifier"][0]) >= 43 and "client_secret" not in form
    assert (
        exchange.headers["authorization"] == "Basic " + base64.b64encode(f"{CLIENT}:console-secret".encode()).decode()
    )
    # An EC key without an `alg` in the JWKS verifies ES256.
    identity, _ = await _sign_in(played, lambda nonce: rs256(_claims(nonce), kid="ec-1", key=EC_KEY, alg="ES256"))
    assert identity.name == "li.wei"


async def test_client_secret_post_when_the_provider_only_takes_that() -> None:
    played = PlayedProvider()
    played.auth_methods = ["client_secret_post"]
    await _sign_in(played, lambda nonce: rs256(_claims(nonce)))
    form = parse_qs(played.token_requests[0].content.decode())
    assert form["client_id"] == [CLIENT] and form["client_secret"] == ["console-secret"]
    assert "authorization" not in played.token_requests[0].headers


def _hs256_with_the_client_secret(nonce: str) -> str:
    return jwt.encode(_claims(nonce), "console-secret", algorithm="HS256", headers={"kid": "rsa-1"})


def _unsigned(nonce: str) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"rsa-1"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(_claims(nonce)).encode()).rstrip(b"=").decode()
    return f"{header}.{body}."


OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("make_token", "says"),
    [
        (lambda n: rs256(_claims(n, iss="https://evil.example")), "issuer"),
        (lambda n: rs256(_claims(n, aud="another-client")), "Audience"),
        (lambda n: rs256(_claims(n, aud=[CLIENT, "another-client"])), "azp"),
        (lambda n: rs256(_claims(n, exp=int(time.time()) - 120)), "expired"),
        (lambda n: rs256(_claims(n, exp=None)), "exp"),
        (lambda n: rs256(_claims("another-sign-in")), "nonce"),
        (lambda n: rs256(_claims(n, nonce=None)), "nonce"),
        (lambda n: rs256(_claims(n), key=OTHER_RSA), "Signature verification failed"),
        (lambda n: rs256(_claims(n), kid="unknown"), "not in the provider's JWKS"),
        (lambda n: rs256(_claims(n), kid="rsa-1", key=EC_KEY, alg="ES256"), "is for RS256, not ES256"),
        (lambda n: rs256(_claims(n), kid="ec-1"), "is for EC, not RS256"),
        (_hs256_with_the_client_secret, "'HS256'"),
        (_unsigned, "'none'"),
        (lambda n: "not-a-jwt", "not a JWT"),
        # No key id while the provider has two keys: which one is not for the token to leave open.
        (lambda n: jwt.encode(_claims(n), RSA_KEY, algorithm="RS256"), "key None is not"),
    ],
)
async def test_tokens_the_console_must_refuse(make_token: Callable[[str], str], says: str) -> None:
    with pytest.raises(OidcError) as refused:
        await _sign_in(PlayedProvider(), make_token)
    assert refused.value.key == "signin.oidc_failed"
    assert says in refused.value.detail


async def test_a_rotated_key_is_fetched_once_and_unknown_keys_do_not_hammer_the_provider() -> None:
    played = PlayedProvider()
    await _sign_in(played, lambda nonce: rs256(_claims(nonce)))
    assert played.jwks_fetches == 1
    async with httpx.AsyncClient(transport=httpx.MockTransport(played.handle)) as http:
        oidc = client(ISSUER, http)
        now = [0.0]
        oidc.clock = lambda: now[0]
        oidc.pending.clock = oidc.clock
        for kid, expect_fetches in (("rsa-1", 2), ("gone", 2), ("gone", 2)):
            url, binding = await oidc.begin("/", "https://c/cb")
            query = parse_qs(urlsplit(url).query)
            played.nonce_token = rs256(_claims(query["nonce"][0]), kid=kid)
            try:
                await oidc.finish(query["state"][0], "c", binding)
            except OidcError:
                assert kid == "gone"
            assert played.jwks_fetches == expect_fetches
        now[0] += 61  # a minute on, an unknown key id may mean a rotation: fetched again
        played.keys.append(_jwk(OTHER_RSA, "rsa-2", "RS256"))
        url, binding = await oidc.begin("/", "https://c/cb")
        query = parse_qs(urlsplit(url).query)
        played.nonce_token = rs256(_claims(query["nonce"][0]), kid="rsa-2", key=OTHER_RSA)
        identity, _ = await oidc.finish(query["state"][0], "c", binding)
        assert identity.name == "li.wei" and played.jwks_fetches == 3


async def test_an_https_provider_naming_a_plain_http_endpoint_is_refused() -> None:
    played = PlayedProvider()
    played.token_endpoint = "http://id.example.gov.cn/token"  # the secret and the code would go in clear
    with pytest.raises(OidcError, match="not https"):
        await _sign_in(played, lambda nonce: rs256(_claims(nonce)))
    assert played.token_requests == []


async def test_an_unreachable_provider_says_so() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        with pytest.raises(OidcError) as refused:
            await client(ISSUER, http).begin("/", "https://c/cb")
    assert (refused.value.key, refused.value.status) == ("signin.oidc_unreachable", 503)
