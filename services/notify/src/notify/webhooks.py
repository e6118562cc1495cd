"""Webhook rules, pure: signing and verifying, what a response means, backoff, the circuit breaker.

Signing is Standard Webhooks (the kernel's signing.py, the same scheme municipal systems sign their
Kafka records with): `webhook-id` (the notification id), `webhook-timestamp` (Unix seconds at which
the request was sent) and `webhook-signature: v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`
over the exact bytes of the body. A receiver verifies it with any Standard Webhooks library (or
`verify` here): recompute over the bytes received, compare in constant time, refuse a timestamp
further than `REPLAY_WINDOW_S` from its own clock. Every attempt is signed afresh with its own
timestamp; the body and `webhook-id` stay the same, so a receiver deduplicates by that id.
Secrets are `whsec_<base64>` (signing.new_secret makes one). Endpoints registered before secrets
had that form keep signing with their secret's UTF-8 bytes as the key.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from incentives_kernel import signing

REPLAY_WINDOW_S = 300
MAX_URL_LENGTH = 2048


def payload(**fields: Any) -> bytes:
    """The request body, built once when the notification is stored: every attempt sends the same bytes."""
    return json.dumps(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of an endpoint's secret: a `whsec_` secret's bytes, or (registered before) its text."""
    return signing.parse_secret(secret) if secret.startswith(signing.SECRET_PREFIX) else secret.encode()


def secret_problem(secret: str) -> str | None:
    """Why `secret` cannot sign a new endpoint's requests, or None."""
    try:
        signing.parse_secret(secret)
    except signing.SecretError as exc:
        return str(exc)
    return None


def signed_headers(secret: str, notification_id: str, body: bytes, now: float) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        **signing.sign(secret_key(secret), notification_id, body, int(now)),
        "X-Notification-Id": notification_id,  # the same as webhook-id; kept for receivers written before
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float, window_s: int = REPLAY_WINDOW_S) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature (constant-time compare)."""
    try:
        signing.verify([secret_key(secret)], headers, body, now=now, tolerance_s=window_s)
    except signing.BadSignature:
        return False
    return True


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the endpoint may get better: try again later
    REJECTED = "rejected"  # it answered, and retrying the same request will not change the answer


# Timeouts, "too early", rate limits and server errors pass; other 3xx and 4xx answers will not.
_RETRYABLE = {408, 425, 429}


def verdict(status: int | None) -> Verdict:
    """What an HTTP answer (None: no answer, a network error or timeout) means for the delivery."""
    if status is None or status in _RETRYABLE or status >= 500:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.REJECTED


def backoff_s(attempt: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(max_s, base_s * 2^(attempt-1))] after attempt `attempt` (1-based).

    Full jitter spreads the retries of many deliveries that failed together (an endpoint that was down)
    instead of sending them back in waves.
    """
    ceiling: float = min(max_s, base_s * 2.0 ** min(max(attempt - 1, 0), 60))
    return ceiling * rand()


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def circuit(consecutive_failures: int, open_until: datetime | None, now: datetime, threshold: int) -> Circuit:
    """Closed below `threshold` failures in a row; then open until `open_until`; then half-open (one probe)."""
    if consecutive_failures < threshold:
        return Circuit.CLOSED
    if open_until is not None and open_until > now:
        return Circuit.OPEN
    return Circuit.HALF_OPEN


@dataclass(frozen=True, slots=True)
class BreakerUpdate:
    consecutive_failures: int
    open_until: datetime | None


def after_result(
    consecutive_failures: int, ok: bool, now: datetime, threshold: int, cooldown_s: float
) -> BreakerUpdate:
    """The endpoint's breaker after one result: a success closes it; the threshold-th failure opens it.

    A failed half-open probe is a failure past the threshold, so it opens the circuit again.
    """
    if ok:
        return BreakerUpdate(0, None)
    failures = consecutive_failures + 1
    return BreakerUpdate(failures, now + timedelta(seconds=cooldown_s) if failures >= threshold else None)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook endpoint by its shape, or None. Where it may lead is egress.py's."""
    if len(url) > MAX_URL_LENGTH:
        return f"at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "no white space or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "a host is required"
    if parts.username is not None or parts.password is not None:
        # The URL is shown in the operator API and logs: credentials belong in the signing secret.
        return "credentials in the URL are not allowed"
    if parts.fragment:
        return "a fragment is not sent to a server"
    if port == 0:
        return "port 0 is not a port"
    return None
