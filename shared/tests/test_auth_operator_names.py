"""Operator entries that name a person (`name:token`): the actor recorded is the person, not the token."""

from __future__ import annotations

import hashlib

import pytest
from incentives_kernel.auth import Caller, Role, TokenAuth, parse_operators
from starlette.requests import Request

ALICE_OLD, ALICE_NEW = "alice-token-2025-aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "alice-token-2026-bbbbbbbbbbbbbbbbbbbbbbbbbbbb"
WEI = "wei-token-cccccccccccccccccccccccccccccccccc"
PLAIN = "plain-operator-token-dddddddddddddddddddddddd"
GW = "gateway-token-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"


def fp(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@pytest.fixture
def auth() -> TokenAuth:
    wei_digest = "sha256:" + hashlib.sha256(WEI.encode()).hexdigest()
    return TokenAuth(f"alice:{ALICE_OLD}, alice:{ALICE_NEW}, 张伟:{wei_digest}, {PLAIN}", GW)


def request(token: str | None, caller: Caller | None = None) -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {"type": "http", "method": "POST", "path": "/v1/x", "query_string": b"", "headers": headers}
    if caller is not None:
        scope["state"] = {"caller": caller}
    return Request(scope)


@pytest.mark.parametrize(
    ("token", "actor"),
    [
        (ALICE_OLD, "operator:alice"),
        (ALICE_NEW, "operator:alice"),  # rotation: both of a person's tokens are that person
        (WEI, "operator:张伟"),  # a named digest entry; names in any script
        (PLAIN, f"operator:{fp(PLAIN)}"),  # unnamed: the fingerprint, as before
        (GW, f"gateway:{fp(GW)}"),
    ],
)
def test_the_actor_is_the_name_else_the_fingerprint(auth: TokenAuth, token: str, actor: str) -> None:
    caller = auth.caller(token)
    assert caller is not None
    assert caller.actor == actor
    assert caller.fingerprint == fp(token)  # rate budgets stay per token
    assert auth.actor(request(token)) == actor


def test_the_name_is_not_part_of_the_token(auth: TokenAuth) -> None:
    assert auth.role_of(f"alice:{ALICE_OLD}") is None
    assert auth.role_of("alice") is None
    assert auth.role_of(ALICE_OLD) is Role.OPERATOR


def test_actor_prefers_the_caller_the_guard_found(auth: TokenAuth) -> None:
    found = Caller(Role.OPERATOR, fp(PLAIN), name="bob")
    assert auth.actor(request(PLAIN, found)) == "operator:bob"


def test_a_member_token_acts_as_its_member() -> None:
    assert Caller(Role.MEMBER, "0" * 12, member_id="m-1").actor == "member:m-1"


def test_plain_and_digest_entries_are_unnamed() -> None:
    digest_entry = "sha256:" + hashlib.sha256(b"x").hexdigest()
    assert [name for _, name in parse_operators(f"{PLAIN},{digest_entry}")] == [None, None]


@pytest.mark.parametrize(
    "entry",
    [
        "al ice:s3cr3t",  # a space
        ":s3cr3t",  # no name
        "alice:",  # no token
        "_alice:s3cr3t",  # must start with a letter or digit
        "a/b:s3cr3t",
        "0123456789ab:s3cr3t",  # would pass for an unnamed token's fingerprint
        "x" * 65 + ":s3cr3t",
    ],
)
def test_a_malformed_name_is_refused_without_showing_the_token(entry: str) -> None:
    with pytest.raises(ValueError, match="INCENTIVES_OPERATOR_TOKENS entry 2") as refused:
        parse_operators(f"{PLAIN},{entry}")
    assert "s3cr3t" not in str(refused.value)


def test_settings_refuse_a_malformed_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from incentives_kernel.settings import ServiceSettings

    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@localhost/x")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    monkeypatch.setenv("INCENTIVES_OPERATOR_TOKENS", f"{PLAIN},al ice:{ALICE_OLD}")
    with pytest.raises(ValueError, match="entry 2"):
        ServiceSettings()


def test_the_length_rule_measures_the_token_not_the_name() -> None:
    from incentives_kernel.settings import _short_tokens

    assert list(_short_tokens("operator_tokens", f"alice:{'x' * 20},{PLAIN}")) == [1]
    assert list(_short_tokens("operator_tokens", f"a-rather-long-name-for-someone:{'x' * 20}")) == [1]
    assert list(_short_tokens("operator_tokens", f"alice:{ALICE_OLD},bob:sha256:{'0' * 64}")) == []
