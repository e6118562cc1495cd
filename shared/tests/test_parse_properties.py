"""Property: whatever the bytes, parse_event either returns a ParsedEvent or raises InvalidEvent."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from incentives_kernel.envelope import ParsedEvent, parse_event
from incentives_kernel.errors import InvalidEvent
from incentives_kernel.events import INBOUND_TYPES

REASONS = {"too_large", "invalid_json", "not_cloudevent", "unknown_type", "invalid_data"}

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)

VALID = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "/district/nanqu/rider-app",
    "type": "report.rated",
    "time": "2026-11-21T08:30:00+08:00",
    "data": {"report_id": "r-1", "member_id": "m-1", "rating": 4, "comment": ""},
}


def outcome(raw: bytes | None) -> str:
    error: InvalidEvent | None = None
    try:
        parsed = parse_event(raw, INBOUND_TYPES)
    except InvalidEvent as exc:
        error = exc
    if error is not None:
        assert error.reason in REASONS
        assert isinstance(error.message, str)
        return error.reason
    assert isinstance(parsed, ParsedEvent)
    assert isinstance(parsed.data, INBOUND_TYPES[parsed.type])
    return "ok"


def test_the_valid_base_event_parses() -> None:
    assert outcome(json.dumps(VALID).encode()) == "ok"


@FAST
@given(st.binary(max_size=512))
@example(b"")
@example(b"\x00")
@example(b"\xef\xbb\xbf{}")
@example(b'{"specversion":"1.0"}')
@example(b"NaN")
def test_arbitrary_bytes_only_raise_invalid_event(raw: bytes) -> None:
    outcome(raw)


@FAST
@given(st.dictionaries(st.text(max_size=16), json_values, max_size=8))
def test_arbitrary_json_objects_only_raise_invalid_event(doc: dict[str, Any]) -> None:
    assert outcome(json.dumps(doc).encode()) != "ok"


@FAST
@given(
    st.sampled_from(sorted(set(VALID) | {"subject", "datacontenttype"})),
    json_values,
)
def test_one_bad_envelope_attribute_only_raises_invalid_event(attr: str, value: Any) -> None:
    outcome(json.dumps({**VALID, attr: value}).encode())


@FAST
@given(
    st.sampled_from(sorted(INBOUND_TYPES)),
    st.dictionaries(
        st.sampled_from(
            ["report_id", "member_id", "rating", "comment", "location", "photos", "hours", "status", "reason"]
        )
        | st.text(max_size=8),
        json_values,
        max_size=8,
    ),
)
def test_arbitrary_data_for_every_type_only_raises_invalid_event(type_: str, data: dict[str, Any]) -> None:
    outcome(json.dumps({**VALID, "type": type_, "data": data}).encode())


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_invalid_event(text: str) -> None:
    outcome(text.encode("utf-8", "surrogatepass"))
