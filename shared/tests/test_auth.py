"""Bearer tokens: roles, rotation (several per role), pre-hashed entries, and 401s."""

from __future__ import annotations

import hashlib

import pytest
from incentives_kernel.auth import Role, TokenAuth, digest
from incentives_kernel.http_errors import ApiError
from starlette.requests import Request

OPS_OLD, OPS_NEW = "ops-token-2025", "ops-token-2026"
GW = "gateway-token-1"
HASHED = "pre-hashed-gateway-token"


@pytest.fixture
def auth() -> TokenAuth:
    hashed_entry = "sha256:" + hashlib.sha256(HASHED.encode()).hexdigest()
    return TokenAuth(f"{OPS_OLD}, {OPS_NEW},", f" {GW} ,{hashed_entry}")


def request(*headers: tuple[str, str]) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/members/m-1/balance",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }
    return Request(scope)


def test_digest_is_sha256() -> None:
    assert digest("abc") == hashlib.sha256(b"abc").digest()


@pytest.mark.parametrize(("token", "role"), [(OPS_OLD, Role.OPERATOR), (OPS_NEW, Role.OPERATOR), (GW, Role.GATEWAY)])
def test_role_of_each_configured_token(auth, token, role) -> None:
    assert auth.role_of(token) is role


def test_sha256_entry_matches_the_clear_token(auth) -> None:
    assert auth.role_of(HASHED) is Role.GATEWAY
    # the digest itself is not a token
    assert auth.role_of(hashlib.sha256(HASHED.encode()).hexdigest()) is None
    assert auth.role_of("sha256:" + hashlib.sha256(HASHED.encode()).hexdigest()) is None


def test_sha256_entry_accepts_uppercase_hex() -> None:
    auth = TokenAuth("sha256:" + hashlib.sha256(b"t").hexdigest().upper(), "")
    assert auth.role_of("t") is Role.OPERATOR


@pytest.mark.parametrize(
    "token", ["", "nope", OPS_OLD + " ", OPS_OLD.upper(), GW[:-1], "ops-token-2025,ops-token-2026"]
)
def test_unknown_token_has_no_role(auth, token) -> None:
    assert auth.role_of(token) is None


def test_no_tokens_configured_accepts_nothing() -> None:
    auth = TokenAuth("", " , ")
    assert auth.role_of("") is None
    assert auth.role_of("anything") is None


def test_same_token_in_both_roles_is_operator() -> None:
    assert TokenAuth("shared", "shared").role_of("shared") is Role.OPERATOR


@pytest.mark.parametrize(
    ("header", "role"),
    [
        (f"Bearer {OPS_NEW}", Role.OPERATOR),
        (f"bearer {GW}", Role.GATEWAY),
        (f"BEARER {HASHED}", Role.GATEWAY),
        (f"Bearer  {GW} ", Role.GATEWAY),
    ],
)
def test_authenticate_accepts_bearer(auth, header, role) -> None:
    assert auth.authenticate(request(("Authorization", header))).role is role


@pytest.mark.parametrize(
    "headers",
    [
        (),
        (("Authorization", ""),),
        (("Authorization", "Bearer"),),
        (("Authorization", "Bearer "),),
        (("Authorization", "Bearer    "),),
        (("Authorization", f"Basic {GW}"),),
        (("Authorization", f"Token {GW}"),),
        (("Authorization", GW),),
        (("X-Api-Key", GW),),
    ],
)
def test_authenticate_missing_or_malformed_header(auth, headers) -> None:
    with pytest.raises(ApiError) as info:
        auth.authenticate(request(*headers))
    assert info.value.status == 401
    assert info.value.code == "unauthenticated"
    assert "required" in info.value.message


@pytest.mark.parametrize("token", ["wrong", OPS_OLD + "x", "sha256:" + "0" * 64])
def test_authenticate_wrong_token(auth, token) -> None:
    with pytest.raises(ApiError) as info:
        auth.authenticate(request(("Authorization", f"Bearer {token}")))
    assert info.value.status == 401
    assert info.value.code == "unauthenticated"
    assert "not valid" in info.value.message
    assert token not in info.value.message


def test_role_values() -> None:
    assert {r.value for r in Role} == {"operator", "gateway", "member", "provider"}


def test_provider_tokens_are_bound_to_their_provider() -> None:
    auth = TokenAuth(
        "op-token", "gw-token", provider_tokens=f"station-1:st-token, shop-2:sha256:{digest('sh-token').hex()}"
    )
    station, shop = auth.caller("st-token"), auth.caller("sh-token")
    assert station is not None and (station.role, station.provider_id) == (Role.PROVIDER, "station-1")
    assert shop is not None and (shop.role, shop.provider_id) == (Role.PROVIDER, "shop-2")
    assert auth.caller("station-1:st-token") is None
    operator = auth.caller("op-token")
    assert operator is not None and operator.provider_id is None


def test_a_provider_token_entry_without_its_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="provider_id:token"):
        TokenAuth("", "", provider_tokens="just-a-token")
