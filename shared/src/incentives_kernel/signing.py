"""One signing scheme for everything signed at the boundary: Standard Webhooks (symmetric, v1).

Used both ways: municipal systems sign the Kafka records they publish to us (intake.py), and notify
signs the webhook requests it sends (notify/webhooks.py). Three headers:

- `webhook-id`: the message id (for a Kafka record, the CloudEvent `id`; for a webhook, the
  notification id). No `.` in it: the signed content is `id.timestamp.body`.
- `webhook-timestamp`: Unix time in whole seconds at which it was signed.
- `webhook-signature`: `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body bytes>")>`, several
  space-separated while a secret is rotated.

Secrets are written `whsec_<base64>` (24..64 random bytes). The HMAC itself is the `standardwebhooks`
package's (the specification's reference library); what it does not offer is done here: a clock
and a window of our own (its `verify` has a fixed five minutes and the wall clock, and an
operator's replay must be able to waive the age), strict parsing of secrets and headers, and a
cap on how many signatures are tried.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
MIN_SECRET_BYTES = 24  # the specification's minimum (192 bits)
MAX_SECRET_BYTES = 64
MAX_SIGNATURES = 8  # a header listing more is not rotation, it is guessing
_MESSAGE_ID = re.compile(r"^[^.\s]{1,256}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class SecretError(ValueError):
    """A signing secret that is not `whsec_<base64>` of 24..64 bytes; the message says which."""


def parse_secret(text: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret, decoded strictly (no stray characters)."""
    if not text.startswith(SECRET_PREFIX):
        raise SecretError(f"a signing secret is written {SECRET_PREFIX}<base64>")
    body = text[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("a signing secret's part after whsec_ must be base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise SecretError(f"a signing secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(key)}")
    return key


def new_secret(nbytes: int = 32) -> str:
    """A fresh random secret in the `whsec_` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` for `body` sent as `message_id` at `timestamp`."""
    return Webhook(key).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)


def sign(key: bytes, message_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The three headers that sign `body`."""
    if not _MESSAGE_ID.match(message_id):
        raise ValueError("a message id has 1..256 characters, no '.' and no white space")
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(key, message_id, timestamp, body),
    }


def kafka_headers(key: bytes, message_id: str, body: bytes, timestamp: int) -> list[tuple[str, bytes]]:
    """`sign` as Kafka record headers."""
    return [(k, v.encode()) for k, v in sign(key, message_id, body, timestamp).items()]


class BadSignature(Exception):
    """Why a signature was refused: `reason` is `signature_missing`, `bad_signature` or `signature_expired`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Signed:
    """What a verified signature vouches for."""

    message_id: str
    timestamp: int


def header(headers: Iterable[tuple[str, bytes]] | Mapping[str, str], name: str) -> str | None:
    """A header's value (the first one), from Kafka's (name, bytes) pairs or an HTTP mapping."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for k, v in pairs:
        if k.lower() == name:
            return v if isinstance(v, str) else v.decode("ascii", errors="replace")
    return None


def verify(
    keys: Sequence[bytes],
    headers: Iterable[tuple[str, bytes]] | Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: int | None,
) -> Signed:
    """Check the signature headers over `body` against any of `keys` (several while rotating).

    `tolerance_s` None: the timestamp's age is not held against it (an operator's replay of a
    genuine, old record). Raises `BadSignature`; constant-time comparisons throughout.
    """
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    names = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
    message_id, raw_ts, raw_sigs = (header(pairs, h) for h in names)
    if message_id is None or raw_ts is None or raw_sigs is None:
        missing = [h for h in names if header(pairs, h) is None]
        raise BadSignature("signature_missing", f"no {', '.join(missing)} header")
    if not _MESSAGE_ID.match(message_id):
        raise BadSignature("bad_signature", f"{ID_HEADER} must have 1..256 characters, no '.' and no white space")
    if not _TIMESTAMP.match(raw_ts):
        raise BadSignature("bad_signature", f"{TIMESTAMP_HEADER} is not a Unix time in seconds")
    ts = int(raw_ts)
    offered = raw_sigs.split()[:MAX_SIGNATURES]
    expected = [signature(k, message_id, ts, body).encode() for k in keys]
    if not any(hmac.compare_digest(s.encode(), e) for s in offered for e in expected):
        raise BadSignature("bad_signature", "no valid v1 signature")
    age = now - ts
    if tolerance_s is not None and abs(age) > tolerance_s:
        raise BadSignature("signature_expired", f"signature time is {int(age)} s from now (window {tolerance_s} s)")
    return Signed(message_id, ts)
