"""The dead-letter replay marker, authenticated: only an operator holding INCENTIVES_REPLAY_KEY makes one.

`incentives dlq replay` re-publishes a dead letter to its original topic with these headers:

- `x-replayed-from`: where the dead letter was (`<dlq topic>/<partition>/<offset>`);
- `x-replay-service`: the service that dead-lettered it (the dead letter's `error.service`): the
  one whose inbox may try it again;
- `x-replay-ts`: when it was replayed (Unix seconds);
- `x-replay-mac`: `v1,<base64 HMAC-SHA256(replay key, the record's identity)>`, the identity being
  the fields above, the topic it is published to, and a digest of the record's value (the
  CloudEvent, whose source and id are what the inbox knows it by; the record key only routes it).

A marker lets the record's (old but genuine) signature be older than the window, and lets that one
service retry an event its inbox holds as dead-lettered. Anybody can write the header; only the
MAC makes it a replay. A record that carries a marker which does not verify is refused outright
(`bad_replay_marker`), so it can neither reopen a dead-lettered event nor dodge a signature's age.
A marker is good for `MAX_AGE_S` after the replay: re-publishing a captured replay later is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import InvalidEvent

FROM_HEADER = "x-replayed-from"
SERVICE_HEADER = "x-replay-service"
TS_HEADER = "x-replay-ts"
MAC_HEADER = "x-replay-mac"
MARKER_HEADERS = (FROM_HEADER, SERVICE_HEADER, TS_HEADER, MAC_HEADER)
MAX_AGE_S = 7 * 24 * 3600
CLOCK_SKEW_S = 300
MIN_KEY_LENGTH = 32
_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Replay:
    """An authenticated replay: what an operator re-published, and for which service."""

    service: str
    replayed_from: str
    ts: int

    def for_service(self, service: str) -> bool:
        """Whether `service` may retry the event its inbox holds as dead-lettered (the engine asks)."""
        return self.service == service


def _identity(service: str, topic: str, replayed_from: str, ts: int, value: bytes | None) -> bytes:
    parts = [
        "incentives-replay-" + _VERSION,
        service,
        topic,
        replayed_from,
        str(ts),
        hashlib.sha256(value or b"").hexdigest(),
    ]
    return "\n".join(parts).encode()


def _mac(key: str, identity: bytes) -> str:
    return f"{_VERSION}," + base64.b64encode(hmac.new(key.encode(), identity, hashlib.sha256).digest()).decode()


def mark(
    key: str,
    *,
    service: str,
    topic: str,
    replayed_from: str,
    ts: int,
    value: bytes | None,
) -> list[tuple[str, bytes]]:
    """The headers that make a re-published record an operator's replay for `service`."""
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"the replay key must have at least {MIN_KEY_LENGTH} characters")
    mac = _mac(key, _identity(service, topic, replayed_from, ts, value))
    return [
        (FROM_HEADER, replayed_from.encode()),
        (SERVICE_HEADER, service.encode()),
        (TS_HEADER, str(ts).encode()),
        (MAC_HEADER, mac.encode()),
    ]


def _values(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for k, v in headers:
        name = k.lower()
        if name in MARKER_HEADERS and name not in found:
            found[name] = v.decode("utf-8", errors="replace")
    return found


def has_marker(headers: Sequence[tuple[str, bytes]]) -> bool:
    return any(k.lower() in MARKER_HEADERS for k, _ in headers)


def verify(
    key: str,
    *,
    topic: str,
    headers: Sequence[tuple[str, bytes]],
    value: bytes | None,
    now: float,
    max_age_s: int = MAX_AGE_S,
) -> Replay | None:
    """The replay this record is, None if it carries no marker; `InvalidEvent` if its marker is not genuine."""
    found = _values(headers)
    if not found:
        return None
    if not key:
        raise InvalidEvent("bad_replay_marker", "a replay marker, and no INCENTIVES_REPLAY_KEY to check it with")
    missing = [h for h in MARKER_HEADERS if h not in found]
    if missing:
        raise InvalidEvent("bad_replay_marker", f"incomplete replay marker: no {', '.join(missing)}")
    raw_ts = found[TS_HEADER]
    if not raw_ts.isascii() or not raw_ts.isdigit() or len(raw_ts) > 12:
        raise InvalidEvent("bad_replay_marker", f"{TS_HEADER} is not a Unix time in seconds")
    ts = int(raw_ts)
    service, replayed_from = found[SERVICE_HEADER], found[FROM_HEADER]
    expected = _mac(key, _identity(service, topic, replayed_from, ts, value))
    if not hmac.compare_digest(expected.encode(), found[MAC_HEADER].encode()):
        raise InvalidEvent("bad_replay_marker", "the replay marker is not signed with the replay key")
    if ts > now + CLOCK_SKEW_S or now - ts > max_age_s:
        raise InvalidEvent("bad_replay_marker", f"the replay marker is {int(now - ts)} s old (at most {max_age_s} s)")
    return Replay(service=service, replayed_from=replayed_from, ts=ts)
