"""Member tokens: minted and verified with rotating keys; every way a token can be wrong is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from incentives_kernel.auth import Caller, Role, TokenAuth
from incentives_kernel.http_errors import ApiError
from incentives_kernel.member_tokens import (
    AUDIENCE,
    MAX_TTL_S,
    InvalidMemberToken,
    MemberTokenConfigError,
    MemberTokenKeys,
)

OLD, NEW = "old:" + "o" * 40, "new:" + "n" * 40
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forge(claims: dict, header: dict | None = None, key: bytes = b"o" * 40) -> str:
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT", "kid": "old"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def good_claims(**over: object) -> dict:
    iat = int(NOW.timestamp())
    return {"sub": "m-1", "aud": AUDIENCE, "iat": iat, "exp": iat + 600, **over}


def test_minted_token_verifies_to_its_member_and_expires_when_said() -> None:
    keys = MemberTokenKeys.parse(OLD)
    minted = keys.mint("m-1", 600, NOW)
    assert minted.expires_at == NOW + timedelta(seconds=600)
    assert keys.verify(minted.token, NOW) == "m-1"
    assert keys.verify(minted.token, NOW + timedelta(seconds=599)) == "m-1"
    with pytest.raises(InvalidMemberToken, match="expired"):
        keys.verify(minted.token, NOW + timedelta(seconds=700))


def test_rotation_the_first_key_signs_every_key_verifies_and_a_removed_key_revokes() -> None:
    before = MemberTokenKeys.parse(OLD).mint("m-1", 600, NOW).token
    during = MemberTokenKeys.parse(f"{NEW},{OLD}")
    after_rotation = during.mint("m-1", 600, NOW).token
    assert json.loads(base64.urlsafe_b64decode(after_rotation.split(".")[0] + "==="))["kid"] == "new"
    assert during.verify(before, NOW) == "m-1"
    assert during.verify(after_rotation, NOW) == "m-1"
    only_new = MemberTokenKeys.parse(NEW)
    with pytest.raises(InvalidMemberToken, match="unknown key"):
        only_new.verify(before, NOW)


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("", "not a JWT"),
        ("a.b", "not a JWT"),
        ("!!!.e30.e30", "not base64url|not JSON"),
        (forge(good_claims(), {"alg": "none", "kid": "old"}), "algorithm"),
        (forge(good_claims(), {"alg": "HS512", "kid": "old"}), "algorithm"),
        (forge(good_claims(), {"alg": "HS256", "kid": "who"}), "unknown key"),
        (forge(good_claims(), {"alg": "HS256"}), "unknown key"),
        (forge(good_claims(), key=b"x" * 40), "bad signature"),
        (forge(good_claims(aud="someone-else")), "audience"),
        (forge(good_claims(exp=None)), "exp and iat"),
        (forge(good_claims(exp=True)), "exp and iat"),
        (forge(good_claims(iat=int(NOW.timestamp()) + 3600)), "lifetime"),
        (forge(good_claims(exp=int(NOW.timestamp()) + MAX_TTL_S + 60)), "lifetime"),
        (forge(good_claims(sub="m 1; drop")), "subject"),
        (forge(good_claims(sub=7)), "subject"),
        (forge([1, 2]), "JSON object"),  # type: ignore[arg-type]
    ],
)
def test_every_defect_is_refused_with_its_reason(token: str, why: str) -> None:
    with pytest.raises(InvalidMemberToken, match=why):
        MemberTokenKeys.parse(OLD).verify(token, NOW)


# RFC 7515 Appendix A.1 (the same token is RFC 7519's example in section 3.1): HS256 with this JWK key.
RFC7515_KEY = base64.urlsafe_b64decode(
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow=="
)
RFC7515_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)


def test_the_library_verifies_the_rfc_7515_hs256_vector_and_refuses_it_altered() -> None:
    claims = jwt.decode(RFC7515_TOKEN, RFC7515_KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    head, body, sig = RFC7515_TOKEN.split(".")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{body}.{sig[:-1]}Y", RFC7515_KEY, algorithms=["HS256"], options={"verify_exp": False})
    with pytest.raises(jwt.InvalidAlgorithmError):  # only the algorithms we name, never the header's word
        jwt.decode(RFC7515_TOKEN, RFC7515_KEY, algorithms=["HS512"], options={"verify_exp": False})


def test_a_minted_token_is_the_hs256_jws_of_its_claims() -> None:
    """Our tokens computed by hand from RFC 7515's definition: header and claims in base64url, HMAC-SHA256."""
    token = MemberTokenKeys.parse(OLD).mint("m-1", 600, NOW).token
    head, body, sig = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": "HS256", "typ": "JWT", "kid": "old"}
    assert json.loads(base64.urlsafe_b64decode(body + "==")) == good_claims()
    assert sig == b64(hmac.new(b"o" * 40, f"{head}.{body}".encode(), hashlib.sha256).digest())


@pytest.mark.parametrize(
    "spell",
    [
        lambda t: t + "!!",  # the attack of old: stray characters were dropped by a lenient decoder
        lambda t: t + "=",  # padding: PyJWT alone accepts it
        lambda t: t + "==",
        lambda t: t[:-1] + chr(ord(t[-1]) ^ 1),  # the last character's unused bits
        lambda t: t.replace(".", "=.", 1),
        lambda t: t.replace("-", "+").replace("_", "/"),
        lambda t: " " + t,
    ],
)
def test_only_the_one_canonical_spelling_of_a_token_verifies(spell) -> None:
    keys = MemberTokenKeys.parse(OLD)
    # A token with a base64url-only character in it, so that every spelling above changes it.
    token = next(t for ttl in range(600, 700) if set("-_") & set(t := keys.mint("m-1", ttl, NOW).token))
    assert keys.verify(token, NOW) == "m-1"
    other = spell(token)
    assert other != token
    with pytest.raises(InvalidMemberToken):
        keys.verify(other, NOW)


def test_a_tampered_payload_breaks_the_signature() -> None:
    token = MemberTokenKeys.parse(OLD).mint("m-1", 600, NOW).token
    head, _, sig = token.split(".")
    other = b64(json.dumps(good_claims(sub="m-2")).encode())
    with pytest.raises(InvalidMemberToken, match="bad signature"):
        MemberTokenKeys.parse(OLD).verify(f"{head}.{other}.{sig}", NOW)


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ("k1:short", "shorter"),
        ("nokid" + "x" * 40, "kid:secret"),
        (f"{OLD},{OLD}", "twice"),
        ("b@d:" + "x" * 40, "kid"),
    ],
)
def test_weak_or_malformed_keys_are_refused_at_start(config: str, why: str) -> None:
    with pytest.raises(MemberTokenConfigError, match=why):
        MemberTokenKeys.parse(config)


def test_no_keys_means_disabled_and_minting_refuses() -> None:
    keys = MemberTokenKeys.parse(" , ")
    assert not keys.enabled
    with pytest.raises(MemberTokenConfigError):
        keys.mint("m-1", 600)


@pytest.mark.parametrize(
    ("member", "ttl", "why"), [("m 1", 60, "member id"), ("m-1", 0, "ttl"), ("m-1", MAX_TTL_S + 1, "ttl")]
)
def test_mint_refuses_bad_input(member: str, ttl: int, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        MemberTokenKeys.parse(OLD).mint(member, ttl)


def test_token_auth_knows_member_tokens_only_when_keys_are_configured() -> None:
    token = MemberTokenKeys.parse(OLD).mint("m-1", 600).token
    with_keys = TokenAuth("op", "gw", MemberTokenKeys.parse(OLD))
    caller = with_keys.caller(token)
    assert caller is not None and caller.role is Role.MEMBER and caller.member_id == "m-1"
    assert TokenAuth("op", "gw").caller(token) is None
    assert with_keys.caller(token + "x") is None


def test_member_scope_checks() -> None:
    member = Caller(Role.MEMBER, "f1", "m-1")
    gateway = Caller(Role.GATEWAY, "f2")
    member.act_for("m-1")
    with pytest.raises(ApiError) as info:
        member.act_for("m-2")
    assert info.value.status == 403
    gateway.act_for("m-2")
    assert member.sees("m-1") and not member.sees("m-2")
    assert member.sees("m-1", "m-1") and not member.sees("m-1", "m-2")
    assert gateway.sees("m-2") and gateway.sees("m-2", "m-2") and not gateway.sees("m-2", "m-3")
    # every token of one member shares a budget; tokens of the other roles have their own
    assert member.rate_key == Caller(Role.MEMBER, "other", "m-1").rate_key
    assert gateway.rate_key != Caller(Role.GATEWAY, "f3").rate_key
