"""Webhook rules: signatures a receiver can check, what answers mean, full-jitter backoff, the breaker, URLs."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from notify import webhooks
from notify.webhooks import Circuit, Verdict

SECRET = "s3cret-of-sixteen+"
BODY = '{"kind":"points_credited","title":"积分到账 +5"}'.encode()


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1764000000." + BODY, hashlib.sha256).hexdigest()
    assert webhooks.signature(SECRET, "1764000000", BODY) == "sha256=" + expected


def test_signed_headers() -> None:
    headers = webhooks.signed_headers(SECRET, "n-1", BODY, now=1764000000.9)
    assert headers["X-Timestamp"] == "1764000000"
    assert headers["X-Notification-Id"] == "n-1"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Signature"] == webhooks.signature(SECRET, "1764000000", BODY)


def test_verify_accepts_a_fresh_signed_request() -> None:
    sig = webhooks.signature(SECRET, "1764000000", BODY)
    assert webhooks.verify(SECRET, "1764000000", sig, BODY, now=1764000000 + 299)
    assert webhooks.verify(SECRET, "1764000000", sig, BODY, now=1764000000 - 299)  # a receiver's clock behind


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "now"),
    [
        ("another-secret-16c", "1764000000", BODY, 1764000000),  # wrong secret
        (SECRET, "1764000001", BODY, 1764000001),  # timestamp changed after signing
        (SECRET, "1764000000", BODY + b" ", 1764000000),  # body changed
        (SECRET, "1764000000", BODY, 1764000000 + 301),  # replayed after the window
        (SECRET, "-1764000000", BODY, 1764000000),  # not a timestamp
        (SECRET, "", BODY, 1764000000),
    ],
)
def test_verify_refuses(secret, timestamp, body, now) -> None:
    sig = webhooks.signature(SECRET, "1764000000", BODY)
    assert not webhooks.verify(secret, timestamp, sig, body, now=now)


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
        "http://127.0.0.1:8089/hook?x=1",
        "http://localhost/hook",
        "http://sms-gateway:8080/notify",  # a compose service name
        "https://[::1]:9443/h",
    ],
)
def test_good_urls(url) -> None:
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
        ("http://0.0.0.0/", "cannot receive"),
        ("http://224.0.0.1/", "cannot receive"),
        ("https://example.org/" + "a" * 2048, "2048"),
    ],
)
def test_bad_urls(url, why) -> None:
    problem = webhooks.url_problem(url)
    assert problem is not None
    assert why in problem
