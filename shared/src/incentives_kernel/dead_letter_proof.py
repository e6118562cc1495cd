"""The dead letter's provenance proof: what lets `incentives dlq replay` tell a service's dead letter from a forgery.

`<topic>.dlq` topics are written by the principal of every service that consumes `<topic>`
(deploy/kafka/acl-init.sh), and the replay writes back into `<topic>` as the replay principal, with
a replay marker under INCENTIVES_REPLAY_KEY. Without a proof, whatever any of those principals put
into the DLQ would come out of the replay as a record on `<topic>`, and a topic whose proof of origin
is exclusivity (one principal may write it, intake.py) would take it as that principal's: a
principal that may write `incentives.points.v1.dlq` (reports, rewards, notify) could have a points
decision laundered into `incentives.points.v1`.

So the engine, where it dead-letters a record (`Core.dead_letter`), adds one header:

    x-dead-letter-proof: v1,<base64 HMAC-SHA256(INCENTIVES_REPLAY_KEY, identity)>

over a canonical encoding (each field length-prefixed, so no field can spill into the next) of:

- a domain tag (`incentives-dead-letter-v1`): never the same bytes as a replay marker's identity;
- the service that dead-lettered it (`error.service`): the replay marker names that service, the one
  whose inbox may try the event again;
- the original topic, partition and offset (`original.*`): where the service read it. The topic is
  what the replay may write to, and nowhere else; the position tells dead letters apart;
- the record key (no key and an empty key are the same: neither routes);
- the SHA-256 of the value as the service read it (a value too large to keep is proven too, but its
  dead letter holds none, so the replay refuses it as `value_not_kept` before any HMAC);
- the SHA-256 of the record's own headers the replay re-publishes (`replayable_headers`, in order):
  the signature headers the intake checks again travel with the value, so they are part of it.

That is exactly what the replay writes (topic, key, value, headers) and what its marker says (the
service), so a proof that verifies means: this service's engine read these bytes at that position
of that topic. The `error.class`/`error.reason`/`error.message` headers and the dead-lettering time
are not covered: they explain, and the replay drops them.

The engine's headers follow the record's own, so a check reads the last of each name: a producer
that sent its record with an `original.topic` or a `x-dead-letter-proof` of its own changes nothing.
Without a replay key (a development service without INCENTIVES_REPLAY_KEY; production refuses to
start without one) no proof is written and the CLI refuses the dead letter (`no_proof`); the
service's operator API replays its own stored copy instead (operator_api.py).

Costs nothing per normal event: the engine computes it only when it dead-letters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HEADER = "x-dead-letter-proof"
_VERSION = "v1"
_TAG = b"incentives-dead-letter-" + _VERSION.encode()
# The dead letter's own headers (Core.dead_letter): a replay drops them and re-publishes the rest.
_DEAD_LETTER_PREFIXES = ("error.", "original.", "x-")
_CLAIMED = ("error.service", "original.topic", "original.partition", "original.offset")
_MAX_POSITION_DIGITS = 19  # a Kafka partition or offset is a signed 64-bit integer at most


class Refused(Exception):
    """A dead letter the replay will not re-publish: `reason` is a code, `message` says why and what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Proven:
    """Where a proven dead letter came from: the service that wrote it, and its original position."""

    service: str
    topic: str
    partition: int
    offset: int


def replayable_headers(headers: Iterable[tuple[str, bytes | None]]) -> list[tuple[str, bytes]]:
    """The record's own headers, as a replay re-publishes them: not the dead letter's `error.*`,
    `original.*`, nor any `x-` (an earlier replay's marker, a proof), in any case: the intake reads
    marker headers in any case."""
    return [(k, v or b"") for k, v in headers if not k.lower().startswith(_DEAD_LETTER_PREFIXES)]


def _field(raw: bytes) -> bytes:
    return str(len(raw)).encode() + b":" + raw


def _identity(
    service: str, topic: str, partition: int, offset: int, record_key: bytes | None, value_sha256: str, headers: bytes
) -> bytes:
    fields = (
        _TAG,
        service.encode(),
        topic.encode(),
        str(partition).encode(),
        str(offset).encode(),
        record_key or b"",
        value_sha256.encode(),
        hashlib.sha256(headers).hexdigest().encode(),
    )
    return b"".join(_field(f) for f in fields)


def _headers_bytes(headers: Iterable[tuple[str, bytes | None]]) -> bytes:
    return b"".join(_field(k.encode()) + _field(v) for k, v in replayable_headers(headers))


def _mac(key: str, identity: bytes) -> str:
    return f"{_VERSION}," + base64.b64encode(hmac.new(key.encode(), identity, hashlib.sha256).digest()).decode()


def prove(
    key: str,
    *,
    service: str,
    topic: str,
    partition: int,
    offset: int,
    record_key: bytes | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    """The proof header for a dead letter of the record read at (topic, partition, offset), or none without a key.

    `value` and `headers` are the record's own, as the service read them (before the dead letter's).
    """
    if not key:
        return []
    identity = _identity(
        service, topic, partition, offset, record_key, hashlib.sha256(value).hexdigest(), _headers_bytes(headers)
    )
    return [(HEADER, _mac(key, identity).encode())]


def _last(headers: Sequence[tuple[str, bytes | None]], name: str) -> str | None:
    found = None
    for k, v in headers:
        if k == name:
            found = (v or b"").decode("utf-8", errors="replace")
    return found


def _position(raw: str, name: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_POSITION_DIGITS:
        raise Refused("malformed", f"{name} is {raw[:40]!r}, not a decimal position")
    return int(raw)


def check(
    key: str,
    *,
    topic: str,
    record_key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]],
) -> Proven:
    """Whether a record of `<topic>.dlq` is a dead letter a service's engine wrote of a record of `topic`.

    Raises `Refused` with a reason (`no_proof`, `malformed`, `other_topic`, `value_not_kept`,
    `bad_proof`); returns where it came from. `key` is the services' INCENTIVES_REPLAY_KEY.
    """
    if not key:
        raise ValueError("verifying a dead letter's proof needs the replay key")
    proven, proof = shape(topic=topic, value=value, headers=headers)
    identity = _identity(
        proven.service,
        topic,  # the topic it is replayed to: `shape` checked that original.topic says the same
        proven.partition,
        proven.offset,
        record_key,
        hashlib.sha256(value or b"").hexdigest(),
        _headers_bytes(headers),
    )
    if not hmac.compare_digest(_mac(key, identity).encode(), proof.encode()):
        raise Refused(
            "bad_proof",
            f"{HEADER} does not verify under INCENTIVES_REPLAY_KEY: its value, key, headers, service or position "
            "are not what the service dead-lettered (tampered or forged), or another replay key made it",
        )
    return proven


def shape(*, topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> tuple[Proven, str]:
    """What can be checked without the key (a dry run without it): a proof is there, the engine's
    headers are, the dead letter is of `topic`, its value was kept. Returns (what the headers claim,
    the proof); raises `Refused`."""
    proof = _last(headers, HEADER)
    if proof is None:
        raise Refused(
            "no_proof",
            f"no {HEADER} header: not written by a service's engine (another client wrote it to the .dlq topic), "
            "or by a service without INCENTIVES_REPLAY_KEY, or before proofs existed; if it is a service's, "
            "replay it with that service's operator API (POST /v1/dead-letters/{id}/replay)",
        )
    if not proof.startswith(_VERSION + ","):
        raise Refused("malformed", f"{HEADER} is not a {_VERSION} proof")
    claimed = {name: _last(headers, name) for name in _CLAIMED}
    missing = [name for name, v in claimed.items() if not v]
    if missing:
        raise Refused("malformed", f"no {', '.join(missing)} header")
    service, original_topic = claimed["error.service"] or "", claimed["original.topic"] or ""
    if original_topic != topic:
        raise Refused(
            "other_topic",
            f"dead-lettered from {original_topic[:200]!r}, not {topic}: a dead letter goes back only to its own topic",
        )
    size = _last(headers, "original.size")
    if size is not None and not value:
        raise Refused(
            "value_not_kept",
            f"the record ({size[:20]} bytes) was too large to keep in the dead letter: nothing to re-publish; "
            "its producer must send it again",
        )
    partition = _position(claimed["original.partition"] or "", "original.partition")
    offset = _position(claimed["original.offset"] or "", "original.offset")
    return Proven(service, original_topic, partition, offset), proof
