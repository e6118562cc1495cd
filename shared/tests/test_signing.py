"""The one signing scheme (Standard Webhooks v1): the specification's published vector, and our checks."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from incentives_kernel import signing
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# The vector published with the specification's reference libraries (standard-webhooks/standard-webhooks,
# libraries/*/tests: "test_sign_function"): secret, message id, timestamp, payload -> signature.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_PAYLOAD = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_vector() -> None:
    key = signing.parse_secret(VECTOR_SECRET)
    assert len(key) == 24  # the specification's minimum
    assert signing.signature(key, VECTOR_ID, VECTOR_TS, VECTOR_PAYLOAD) == VECTOR_SIGNATURE
    headers = signing.sign(key, VECTOR_ID, VECTOR_PAYLOAD, VECTOR_TS)
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert signing.verify([key], headers, VECTOR_PAYLOAD, now=VECTOR_TS + 10, tolerance_s=300).timestamp == VECTOR_TS


def test_the_published_vector_with_one_bit_changed_is_refused() -> None:
    key = signing.parse_secret(VECTOR_SECRET)
    headers = signing.sign(key, VECTOR_ID, VECTOR_PAYLOAD, VECTOR_TS)
    # The reference libraries' "invalid signature" case: the last base64 character changed.
    bad = {**headers, "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}
    with pytest.raises(signing.BadSignature) as err:
        signing.verify([key], bad, VECTOR_PAYLOAD, now=VECTOR_TS, tolerance_s=300)
    assert err.value.reason == "bad_signature"


def test_what_we_sign_the_reference_library_verifies() -> None:
    """Interoperability: a receiver using the reference library accepts our signatures, and the other way."""
    secret = signing.new_secret()
    key = signing.parse_secret(secret)
    body = b'{"type":"points.credited","data":{"amount":5}}'
    now = int(time.time())
    ours = signing.sign(key, "n-123", body, now)
    assert Webhook(secret).verify(body, ours) == {"type": "points.credited", "data": {"amount": 5}}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, ours)
    theirs = Webhook(secret).sign("n-124", datetime.fromtimestamp(now, UTC), body)
    headers = {"webhook-id": "n-124", "webhook-timestamp": str(now), "webhook-signature": theirs}
    signing.verify([key], headers, body, now=now, tolerance_s=300)


def test_rotation_several_space_separated_signatures() -> None:
    old, new = signing.parse_secret(signing.new_secret()), signing.parse_secret(signing.new_secret())
    body = b"{}"
    both = f"{signing.signature(new, 'm1', 100, body)} {signing.signature(old, 'm1', 100, body)}"
    headers = {"webhook-id": "m1", "webhook-timestamp": "100", "webhook-signature": both}
    signing.verify([old], headers, body, now=100, tolerance_s=5)
    signing.verify([new], headers, body, now=100, tolerance_s=5)


def test_age_is_waived_only_when_the_caller_says_so() -> None:
    key = signing.parse_secret(signing.new_secret())
    headers = signing.sign(key, "m1", b"{}", 100)
    with pytest.raises(signing.BadSignature) as err:
        signing.verify([key], headers, b"{}", now=100 + 301, tolerance_s=300)
    assert err.value.reason == "signature_expired"
    signing.verify([key], headers, b"{}", now=100 + 10**6, tolerance_s=None)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "24 to 64"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", "base64"),
        ("whsec_change-me-signing-key", "base64"),
    ],
)
def test_weak_or_malformed_secrets_are_refused(secret: str, why: str) -> None:
    with pytest.raises(signing.SecretError, match=why):
        signing.parse_secret(secret)


def test_a_message_id_with_a_dot_is_not_signed() -> None:
    # "It's important that both the message id and the timestamp [...] not be allowed to include any `.`"
    with pytest.raises(ValueError, match=r"no '\.'"):
        signing.sign(b"k" * 32, "a.b", b"{}", 1)
