"""Opaque keyset cursors: round trip, and 400 invalid_cursor for anything else."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incentives_kernel.http_errors import ApiError
from incentives_kernel.pagination import MAX_LIMIT, decode_cursor, encode_cursor


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_invalid(cursor: str, *shape: type) -> None:
    with pytest.raises(ApiError) as info:
        decode_cursor(cursor, *shape)
    assert info.value.status == 400
    assert info.value.code == "invalid_cursor"


def test_max_limit() -> None:
    assert MAX_LIMIT == 200


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_is_the_first_page(cursor) -> None:
    assert decode_cursor(cursor, int) is None


def test_round_trip_int() -> None:
    cursor = encode_cursor([12345])
    assert decode_cursor(cursor, int) == [12345]


def test_round_trip_datetime_and_str() -> None:
    when = datetime(2026, 11, 21, 0, 30, 0, 123456, tzinfo=UTC)
    cursor = encode_cursor([when.isoformat(), "r-2001"])
    assert decode_cursor(cursor, datetime, str) == [when, "r-2001"]


def test_cursor_is_url_safe_and_unpadded() -> None:
    cursor = encode_cursor(["????>>>>", "~~~~", 1])
    assert "=" not in cursor
    assert "+" not in cursor
    assert "/" not in cursor


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=30))
def test_round_trip_property(seq: int, text: str) -> None:
    assert decode_cursor(encode_cursor([seq, text]), int, str) == [seq, text]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!!",
        "not a cursor",
        "%%%",
        "é",
        "A",
        b64(b"not json"),
        b64(b"\xff\xfe"),
        b64(b'{"seq": 1}'),
        b64(b'"1"'),
        b64(b"1"),
        b64(b"null"),
        b64(b"[]"),
        b64(b"[1, 2]"),
        b64(b'["1"]'),
        b64(b"[1.5]"),
        b64(b"[true]"),
        b64(b"[null]"),
        b64(b"[" + b"9" * 5000 + b"]"),
    ],
)
def test_garbage_cursor_for_int_key(cursor) -> None:
    assert_invalid(cursor, int)


@pytest.mark.parametrize(
    "key",
    [["not a date", "r-1"], [12, "r-1"], [None, "r-1"], ["2026-11-21T00:00:00+00:00", 7], ["2026-11-21T00:00:00"]],
)
def test_garbage_cursor_for_datetime_key(key) -> None:
    assert_invalid(b64(json.dumps(key).encode()), datetime, str)


def test_deeply_nested_cursor_is_a_400_not_a_crash() -> None:
    # About 2.7 kB: short enough for a query string, deeper than the json module will go.
    assert_invalid(b64(b"[" * 2000), int)
