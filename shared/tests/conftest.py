"""Realistic inbound CloudEvents for the kernel's tests (no I/O)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from incentives_kernel.events import INBOUND_TYPES

PHONE = "13812345678"

SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "member.registered": {
        "member_id": "m-1001",
        "name": "张三",
        "phone": PHONE,
        "occupation": "food_delivery",
        "platform": "Meituan",
        "district": "nanqu",
        "grid_id": "g-17",
        "locale": "en",
        "registered_at": "2026-11-21T08:00:00+08:00",
    },
    "member.updated": {
        "member_id": "m-1001",
        "name": "张三",
        "phone": PHONE,
        "occupation": "courier",
        "district": "beiqu",
        "registered_at": "2026-11-21T08:00:00+08:00",
    },
    "member.deactivated": {"member_id": "m-1001", "reason": "left the platform"},
    "report.submitted": {
        "report_id": "r-2001",
        "member_id": "m-1001",
        "category": "fire_hazard",
        "description": "电动车在楼道充电",
        "location": {"lat": 31.2304, "lon": 121.4737, "address": "南区人民路 1 号"},
        "photos": [{"url": "https://img.example.cn/r-2001/1.jpg", "sha256": "ab" * 32}],
        "submitted_at": "2026-11-21T08:30:00+08:00",
    },
    "report.status_changed": {
        "report_id": "r-2001",
        "status": "accepted",
        "department": "南区消防站",
        "note": "已派员处理",
        "changed_at": "2026-11-21T09:00:00+08:00",
    },
    "report.rated": {"report_id": "r-2001", "member_id": "m-1001", "rating": 5, "comment": "很快"},
    "need.submitted": {
        "need_id": "n-4001",
        "member_id": "m-1001",
        "category": "childcare",
        "description": "暑假孩子没人照看，想问有没有托管班",
        "location": {"lat": 31.2204, "lon": 121.4230, "address": "南区骑手驿站"},
        "submitted_at": "2026-11-21T08:40:00+08:00",
    },
    "need.status_changed": {
        "need_id": "n-4001",
        "status": "dispatched",
        "department": "nanqu-street-office",
        "note": "转街道办",
        "changed_at": "2026-11-21T09:10:00+08:00",
    },
    "need.rated": {"need_id": "n-4001", "member_id": "m-1001", "rating": 4, "comment": "夏令营很好"},
    "department.registered": {
        "department_id": "nanqu-street-office",
        "name": "南区街道办",
        "districts": ["nanqu"],
    },
    "department.updated": {
        "department_id": "nanqu-street-office",
        "name": "南区街道办事处",
        "districts": ["nanqu", "xincheng"],
    },
    "provider.registered": {
        "provider_id": "nanqu-station-1",
        "name": "蜂享驿站 南区一号站",
        "kind": "station",
        "address": "南区人民路 88 号",
        "location": {"lat": 39.9042, "lon": 116.4074, "address": "南区人民路 88 号"},
        "opening_hours": "Mo-Su 07:00-23:00",
    },
    "provider.updated": {
        "provider_id": "nanqu-station-1",
        "name": "蜂享驿站 南区一号站",
        "kind": "station",
        "address": "南区人民路 90 号",
        "location": {"lat": 39.9043, "lon": 116.4075, "address": "南区人民路 90 号"},
        "opening_hours": "Mo-Su 06:00-23:00",
        "active": False,
    },
    "volunteer.attendance_confirmed": {
        "attendance_id": "a-3001",
        "activity_id": "act-9",
        "activity_title": "社区消防宣传",
        "member_id": "m-1001",
        "hours": 2.5,
        "organizer": "南区志愿者协会",
        "started_at": "2026-11-21T09:00:00+08:00",
        "ended_at": "2026-11-21T11:30:00+08:00",
    },
    "volunteer.attendance_revoked": {"attendance_id": "a-3001", "member_id": "m-1001", "reason": "no-show"},
    "redemption.requested": {"redemption_id": "rd-1", "member_id": "m-1001", "reward_id": "rw-insurance"},
}

assert set(SAMPLE_DATA) == set(INBOUND_TYPES), "a sample is needed for every inbound type"


_SAMPLE = object()


def cloudevent(type_: str, data: Any = _SAMPLE, **attrs: Any) -> dict[str, Any]:
    """A CloudEvent dict in structured JSON mode; `data` defaults to the type's sample."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-0001",
        "source": "/district/nanqu/rider-app",
        "type": type_,
        "time": "2026-11-21T08:30:00+08:00",
        "subject": "m-1001",
        "datacontenttype": "application/json",
        "data": copy.deepcopy(SAMPLE_DATA[type_]) if data is _SAMPLE else data,
    }
    event.update(attrs)
    return event


def to_bytes(event: Any) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


@pytest.fixture
def sample_data() -> Callable[[str], dict[str, Any]]:
    return lambda type_: copy.deepcopy(SAMPLE_DATA[type_])


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    return cloudevent


@pytest.fixture
def encode() -> Callable[[Any], bytes]:
    return to_bytes
