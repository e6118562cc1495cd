"""Webhook rules: signatures a receiver can check, what answers mean, full-jitter backoff, the breaker, URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from notify import webhooks
from notify.webhooks import Circuit, Verdict
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"s3cret-of-thirty-two-bytes-long!").decode()
LEGACY_SECRET = "s3cret-of-sixteen+"  # registered before secrets were whsec_: its text is the key
BODY = '{"kind":"points_credited","title":"积分到账 +5"}'.encode()


def test_signed_headers_are_standard_webhooks() -> None:
    headers = webhooks.signed_headers(SECRET, "n-1", BODY, now=1764000000.9)
    assert headers["webhook-id"] == headers["X-Notification-Id"] == "n-1"
    assert headers["webhook-timestamp"] == "1764000000"
    assert headers["Content-Type"] == "application/json"
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, b"n-1.1764000000." + BODY, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    assert "X-Signature" not in headers and "X-Timestamp" not in headers  # the scheme of old is gone


def test_a_legacy_secret_signs_with_its_text() -> None:
    headers = webhooks.signed_headers(LEGACY_SECRET, "n-1", BODY, now=1764000000)
    mac = hmac.new(LEGACY_SECRET.encode(), b"n-1.1764000000." + BODY, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()


def test_a_receiver_with_the_reference_library_accepts_what_we_send() -> None:
    now = time.time()
    headers = webhooks.signed_headers(SECRET, "n-1", BODY, now=now)
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_verify_accepts_a_fresh_signed_request() -> None:
    headers = webhooks.signed_headers(SECRET, "n-1", BODY, now=1764000000)
    assert webhooks.verify(SECRET, headers, BODY, now=1764000000 + 299)
    assert webhooks.verify(SECRET, headers, BODY, now=1764000000 - 299)  # a receiver's clock behind


OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()


@pytest.mark.parametrize(
    ("secret", "change", "body", "now"),
    [
        (OTHER_SECRET, {}, BODY, 1764000000),  # wrong secret
        (SECRET, {"webhook-timestamp": "1764000001"}, BODY, 1764000001),  # timestamp changed after signing
        (SECRET, {"webhook-id": "n-2"}, BODY, 1764000000),  # id changed after signing
        (SECRET, {}, BODY + b" ", 1764000000),  # body changed
        (SECRET, {}, BODY, 1764000000 + 301),  # replayed after the window
        (SECRET, {"webhook-timestamp": "-1764000000"}, BODY, 1764000000),  # not a timestamp
        (SECRET, {"webhook-signature": ""}, BODY, 1764000000),
    ],
)
def test_verify_refuses(secret, change, body, now) -> None:
    headers = {**webhooks.signed_headers(SECRET, "n-1", BODY, now=1764000000), **change}
    assert not webhooks.verify(secret, headers, body, now=now)


@pytest.mark.parametrize("secret", ["s3cret-of-sixteen+", "whsec_c2hvcnQ=", "whsec_!!!!"])
def test_new_endpoints_need_a_standard_secret(secret) -> None:
    assert webhooks.secret_problem(secret)
    assert webhooks.secret_problem(SECRET) is None


def test_replay_window_is_five_minutes() -> None:
    assert webhooks.REPLAY_WINDOW_S == 300


def test_payload_is_stable_compact_utf8_json() -> None:
    at = datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    one = webhooks.payload(title="兑换成功", created_at=at, notification_id="n-1")
    two = webhooks.payload(notification_id="n-1", created_at=at, title="兑换成功")
    assert one == two
    assert json.loads(one) == {"created_at": "2026-11-21T08:30:00+00:00", "notification_id": "n-1", "title": "兑换成功"}
    assert "兑换成功".encode() in one


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (202, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (None, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (408, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (301, Verdict.REJECTED),
        (400, Verdict.REJECTED),
        (401, Verdict.REJECTED),
        (404, Verdict.REJECTED),
        (410, Verdict.REJECTED),
        (100, Verdict.REJECTED),
    ],
)
def test_verdict(status, verdict) -> None:
    assert webhooks.verdict(status) is verdict


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    assert webhooks.backoff_s(1, 2.0, 600.0, rand=lambda: 1.0) == 2.0
    assert webhooks.backoff_s(2, 2.0, 600.0, rand=lambda: 1.0) == 4.0
    assert webhooks.backoff_s(5, 2.0, 600.0, rand=lambda: 1.0) == 32.0
    assert webhooks.backoff_s(20, 2.0, 600.0, rand=lambda: 1.0) == 600.0  # capped
    assert webhooks.backoff_s(10_000, 2.0, 600.0, rand=lambda: 1.0) == 600.0  # no overflow
    assert webhooks.backoff_s(5, 2.0, 600.0, rand=lambda: 0.0) == 0.0
    assert webhooks.backoff_s(5, 2.0, 600.0, rand=lambda: 0.25) == 8.0


def test_backoff_spreads_retries() -> None:
    delays = {round(webhooks.backoff_s(6, 1.0, 600.0), 6) for _ in range(200)}
    assert len(delays) > 150
    assert all(0 <= d <= 32 for d in delays)


NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_circuit_states() -> None:
    assert webhooks.circuit(0, None, NOW, 5) is Circuit.CLOSED
    assert webhooks.circuit(4, None, NOW, 5) is Circuit.CLOSED
    assert webhooks.circuit(5, NOW + timedelta(seconds=1), NOW, 5) is Circuit.OPEN
    assert webhooks.circuit(5, NOW, NOW, 5) is Circuit.HALF_OPEN  # the cool-down is over
    assert webhooks.circuit(9, NOW - timedelta(seconds=1), NOW, 5) is Circuit.HALF_OPEN


def test_breaker_opens_on_the_threshold_th_failure_and_a_success_closes_it() -> None:
    failures = 0
    opened = []
    for _ in range(5):
        update = webhooks.after_result(failures, False, NOW, threshold=3, cooldown_s=60)
        failures = update.consecutive_failures
        opened.append(update.open_until)
    assert opened[:2] == [None, None]
    assert opened[2:] == [NOW + timedelta(seconds=60)] * 3  # a failed half-open probe opens it again
    assert webhooks.after_result(failures, True, NOW, threshold=3, cooldown_s=60) == webhooks.BreakerUpdate(0, None)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/incentives",
        "http://hooks.example.org:8089/hook?x=1",
        "https://[2606:4700::1]:9443/h",
    ],
)
def test_well_formed_urls(url) -> None:
    """The shape only: where a URL may lead (addresses, https in production) is egress.py's, tested there."""
    assert webhooks.url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.org/x", "scheme"),
        ("example.org/hook", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("https://", "host"),
        ("http:///path", "host"),
        ("https://user:pw@example.org/", "credentials"),
        ("https://example.org/a b", "white space"),
        ("https://example.org/\x00", "control"),
        ("https://example.org/#frag", "fragment"),
        ("https://example.org:99999/", "not a URL"),
        ("https://example.org:0/", "port 0"),
        ("https://example.org/" + "a" * 2048, "2048"),
    ],
)
def test_bad_urls(url, why) -> None:
    problem = webhooks.url_problem(url)
    assert problem is not None
    assert why in problem
