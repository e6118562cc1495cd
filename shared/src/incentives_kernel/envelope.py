"""CloudEvents 1.0 structured JSON mode: the one parser from bytes to (envelope, typed data).

Everything a producer can get wrong ends in `InvalidEvent` with a stable `reason` code, so the
consumer can dead-letter it with that reason and move on:
`too_large`, `invalid_json`, `not_cloudevent`, `unknown_type`, `invalid_data`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import from_json, to_json

from .errors import InvalidEvent
from .events import Rfc3339
from .logging import PERSONAL_TOKEN

MAX_EVENT_BYTES = 1024 * 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Either reason an identifier is refused, in one search per field (which one is looked for after).
_UNSTORABLE = re.compile(f"{_CONTROL.pattern}|{PERSONAL_TOKEN.pattern}")
_TYPE_SHAPE = re.compile(r"(?!.*\d{5})[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")

# The namespace under which this system derives the ids of the events it emits, so that the same
# state change always yields the same event id (a re-publish is then deduplicated downstream).
EVENT_ID_NAMESPACE = uuid.UUID("5d1f3a8e-2f0b-4c6e-9a51-7c2b8e0d4f10")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


class Envelope(BaseModel):
    """The CloudEvent attributes; `data` is validated separately against the event type's model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: str = Field(pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=512, pattern=r"^\S+$")
    type: str = Field(min_length=1, max_length=128)
    time: Rfc3339
    subject: str | None = Field(default=None, max_length=256)
    datacontenttype: str | None = Field(default=None, pattern=r"^application/(cloudevents\+)?json")
    data: dict[str, Any]

    @field_validator("id", "source", "subject")
    @classmethod
    def _storable_and_not_personal(cls, value: str | None) -> str | None:
        # These are stored (inbox keys) and logged as they are: a phone or identity number in them
        # would sit in clear in every service's tables, and PostgreSQL refuses NUL in text, which
        # would fail the inbox claim (outside any savepoint) and stall the partition.
        if value is None or _UNSTORABLE.search(value) is None:
            return value
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        raise ValueError("must not contain a phone or identity number")


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    envelope: Envelope
    data: BaseModel

    @property
    def type(self) -> str:
        return self.envelope.type


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    more = len(error.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_event(raw: bytes | None, types: Mapping[str, type[BaseModel]]) -> ParsedEvent:
    """Parse one Kafka record value into its envelope and the typed data of its type.

    Raises `InvalidEvent` for anything that is not a valid event of one of `types`.
    The messages never repeat field *values* (they may be personal data), only where and why.
    """
    if raw is None:
        raise InvalidEvent("not_cloudevent", "record has no value")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"record of {len(raw)} bytes exceeds {MAX_EVENT_BYTES}")
    try:
        # pydantic's own JSON parser (jiter) is about twice as fast as json.loads (docs/benchmarks/notes.md),
        # and what it accepts json.loads accepts too, as the same objects (shared/tests/test_envelope.py).
        doc = from_json(raw, allow_inf_nan=True)
    except (ValueError, RecursionError):
        # It refuses more (a BOM, lone surrogates, deeper nesting, huge numbers): json.loads decides
        # those, and names the error as it always did.
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # decode errors, >4300-digit integers, absurd nesting
            raise InvalidEvent("invalid_json", f"value is not JSON: {type(exc).__name__} at {_pos(exc)}") from None
    if not isinstance(doc, dict):
        raise InvalidEvent("not_cloudevent", "value is JSON but not an object")
    try:
        envelope = Envelope.model_validate(doc)
    except ValidationError as exc:
        raise InvalidEvent("not_cloudevent", _describe(exc)) from None
    model = types.get(envelope.type)
    if model is None:
        # Repeat the type only when it looks like one: a producer may have put anything there.
        shown = repr(envelope.type) if _TYPE_SHAPE.fullmatch(envelope.type) else "(not shown)"
        raise InvalidEvent("unknown_type", f"event type {shown} is not accepted here")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidEvent("invalid_data", f"{envelope.type}: {_describe(exc)}") from None
    return ParsedEvent(envelope=envelope, data=data)


def _pos(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno} column {exc.colno}"
    return "decoding"


def derived_event_id(*parts: str) -> str:
    """A stable id for an event this system emits, derived from what caused it.

    Exactly `str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts)))` (a test holds it to that), without
    building a UUID object: the ledger and notify derive several ids per event, and uuid5's object
    round trip was about 7 us of each (bench.notify_profile).
    """
    name = _NAMESPACE_BYTES + "\x1f".join(parts).encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])  # RFC 4122 v5 is SHA-1
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _document(
    event_id: str, source: str, type: str, subject: str | None, data: Any, time: datetime | None
) -> dict[str, Any]:
    """The attributes of every event this system emits, in one order: both encodings below share it."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type,
        "time": (time or datetime.now(UTC)).isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }


def build_event(
    *,
    event_id: str,
    source: str,
    type: str,
    subject: str | None,
    data: BaseModel,
    time: datetime | None = None,
) -> dict[str, Any]:
    """A CloudEvent (structured JSON mode) as a JSON-ready dict."""
    return _document(event_id, source, type, subject, data.model_dump(mode="json"), time)


def encode_event(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def encode_built_event(
    *,
    event_id: str,
    source: str,
    type: str,
    subject: str | None,
    data: BaseModel,
    time: datetime | None = None,
) -> bytes:
    """`encode_event(build_event(...))` without the round trip through Python objects.

    One pydantic_core `to_json` call for the whole document: it serialises the model as its own
    serializer does (the values `model_dump(mode="json")` gives) and the attributes as json.dumps does
    (all strings: `time` is formatted here); the same document, key order included, in about 4 us
    instead of 10.5 (json.dumps of the attributes was most of it; bench.notify_profile).
    """
    return to_json(_document(event_id, source, type, subject, data, time))
