"""The pure parts of the operator APIs (operator_api.py): what a dead letter's record shows, and the
replay a dead letter becomes (marked so that the intake authenticates it for its own service only)."""

from __future__ import annotations

import json
import time

from incentives_kernel import replay
from incentives_kernel.operator_api import masked_record, replay_delivery
from incentives_kernel.outbox import encode_header

KEY = "r" * 40
PHONE, ID_NUMBER = "13812345678", "110101199003071234"


def test_a_record_is_shown_with_personal_data_masked() -> None:
    value = json.dumps(
        {
            "id": "e1",
            "type": "member.registered",
            "data": {"name": "张三", "phone": PHONE, "note": f"call {PHONE}, id {ID_NUMBER}", "items": [PHONE]},
        }
    ).encode()
    shown = masked_record(value)
    assert shown is not None
    assert shown["data"]["name"] == "***" and shown["data"]["phone"] == "***"
    assert shown["data"]["note"] == "call 138****5678, id 110101********1234"
    assert shown["data"]["items"] == ["138****5678"]
    assert PHONE not in json.dumps(shown) and ID_NUMBER not in json.dumps(shown)
    assert masked_record(b"{not json") is None and masked_record(b"[1]") is None and masked_record(b"") is None


def dead_letter(**over: object) -> dict[str, object]:
    value = b'{"id": "e1"}'
    headers = [
        ("webhook-id", b"e1"),
        ("error.reason", b"not_resolved"),
        ("error.service", b"reports"),
        ("original.topic", b"incentives.reports.v1"),
        ("original.partition", b"3"),
        ("original.offset", b"42"),
        ("x-replayed-from", b"forged"),
    ]
    return {
        "dead_letter_id": 7,
        "dlq_topic": "incentives.reports.v1.dlq",
        "topic": "incentives.reports.v1",
        "service": "reports",
        "key": b"r-1",
        "value": value,
        "headers": [encode_header(k, v) for k, v in headers],
    } | over


def test_a_replay_carries_the_record_as_it_came_and_a_marker_for_its_own_service() -> None:
    now = int(time.time())
    d = replay_delivery(dead_letter(), KEY, now)  # type: ignore[arg-type]
    assert (d.topic, d.partition, d.offset, d.key, d.value) == ("incentives.reports.v1", 3, 42, b"r-1", b'{"id": "e1"}')
    names = [k for k, _ in d.headers]
    assert "webhook-id" in names  # the producer's own headers stay (its signature)
    assert not [n for n in names if n.startswith(("error.", "original."))]
    assert names.count(replay.FROM_HEADER) == 1  # the old, forged marker header is dropped
    verified = replay.verify(KEY, topic=d.topic, headers=d.headers, value=d.value, now=now)
    assert verified is not None and verified.for_service("reports") and not verified.for_service("points")
    assert verified.replayed_from == "incentives.reports.v1.dlq/reports/7"
