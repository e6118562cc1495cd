"""A delegating operator entry (the console, for operators signed in through an identity provider) says
who acts with X-Acting-Operator; no other token can, and none is silently taken for itself."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import pytest
from incentives_kernel.auth import Caller, Role, TokenAuth, parse_delegating
from incentives_kernel.http_errors import ApiError
from starlette.requests import Request

CONSOLE = "console-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
ALICE = "alice-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
PLAIN = "plain-operator-token-cccccccccccccccccccccccc"
GW = "gateway-token-dddddddddddddddddddddddddddddddd"


@pytest.fixture
def auth() -> TokenAuth:
    return TokenAuth(f"alice:{ALICE},{PLAIN}", GW, delegating_tokens=f"console:{CONSOLE}")


def request(token: str, acting: str | None) -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    if acting is not None:
        headers.append((b"x-acting-operator", acting.encode()))
    return Request({"type": "http", "method": "GET", "path": "/v1/x", "query_string": b"", "headers": headers})


def test_the_delegating_entry_names_who_acts(auth: TokenAuth) -> None:
    caller = auth.authenticate(request(CONSOLE, "li.wei"))
    assert caller == Caller(
        Role.OPERATOR, hashlib.sha256(CONSOLE.encode()).hexdigest()[:12], name="li.wei", via="console"
    )
    assert caller.actor == "operator:li.wei"
    # Names in any script, as in INCENTIVES_OPERATOR_TOKENS, percent-encoded (header values are Latin-1).
    assert auth.authenticate(request(CONSOLE, quote("张伟", safe=""))).actor == "operator:张伟"


def test_without_the_header_the_delegating_entry_is_itself(auth: TokenAuth) -> None:
    caller = auth.authenticate(request(CONSOLE, None))
    assert (caller.actor, caller.via) == ("operator:console", None)


@pytest.mark.parametrize("token", [ALICE, PLAIN, GW])
def test_any_other_token_naming_someone_is_refused(auth: TokenAuth, token: str) -> None:
    with pytest.raises(ApiError) as refused:
        auth.authenticate(request(token, "li.wei"))
    assert (refused.value.status, refused.value.code) == (403, "acting_refused")


@pytest.mark.parametrize(
    "acting", ["", "li wei", "li%20wei", "%FF%FE", "%E5%BC", "a:b", "0123456789ab", "_x", "x" * 65]
)
def test_a_name_that_could_not_be_an_operators_is_refused(auth: TokenAuth, acting: str) -> None:
    with pytest.raises(ApiError) as refused:
        auth.authenticate(request(CONSOLE, acting))
    assert (refused.value.status, refused.value.code) == (400, "bad_acting_operator")


def test_an_invalid_token_is_401_before_the_header_is_read(auth: TokenAuth) -> None:
    with pytest.raises(ApiError) as refused:
        auth.authenticate(request("not-a-token", "li.wei"))
    assert refused.value.status == 401


def test_parse_delegating() -> None:
    assert [name for _, name in parse_delegating(f" console:{CONSOLE} , ops-bot:sha256:{'0' * 64} ,")] == [
        "console",
        "ops-bot",
    ]
    with pytest.raises(ValueError, match="INCENTIVES_DELEGATING_TOKENS entry 1: name it"):
        parse_delegating(CONSOLE)
    with pytest.raises(ValueError, match="INCENTIVES_DELEGATING_TOKENS entry 2"):
        parse_delegating(f"console:{CONSOLE},con sole:{ALICE}")
