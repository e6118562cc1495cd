"""Demo traffic: riders register, snap-and-report, get their reports handled, rate them, volunteer.

It plays the other municipal systems (rider-app gateway, dispatch platform, volunteer platform):
it only publishes CloudEvents to the inbound topics, as they would.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event

DISTRICTS = ("nanqu", "beiqu", "xincheng")
CATEGORIES = (
    "shared_bike_parking",
    "fire_hazard",
    "traffic_safety",
    "road_damage",
    "sanitation",
    "public_facility",
    "elderly_assistance",
    "other",
)
DEPARTMENTS = {
    "shared_bike_parking": "城管 City management",
    "fire_hazard": "消防 Fire brigade",
    "traffic_safety": "交警 Traffic police",
    "road_damage": "市政 Roads office",
    "sanitation": "环卫 Sanitation",
    "public_facility": "市政 Public works",
    "elderly_assistance": "社区 Community centre",
    "other": "街道办 Street office",
}
OCCUPATIONS = ("courier", "food_delivery", "ride_hailing", "truck_driver")
SURNAMES = "王李张刘陈杨黄赵吴周"


def cloud_event(
    source: str,
    type_: str,
    subject: str,
    data: dict[str, Any],
    time: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": (time or datetime.now(UTC)).isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }


def member_registered(member_id: str, district: str, locale: str = "zh-CN", **extra: Any) -> dict[str, Any]:
    rnd = random.Random(member_id)
    data = {
        "member_id": member_id,
        "name": rnd.choice(SURNAMES) + "师傅",
        "phone": f"13{rnd.randint(0, 9)}{rnd.randint(10_000_000, 99_999_999)}",
        "occupation": rnd.choice(OCCUPATIONS),
        "platform": rnd.choice(("Meituan", "Ele.me", "SF", "DiDi")),
        "district": district,
        "locale": locale,
        "registered_at": datetime.now(UTC).isoformat(),
        **extra,
    }
    return cloud_event(f"/district/{district}/rider-app", "member.registered", member_id, data)


def spot(report_id: str) -> tuple[float, float]:
    """A place for a report that names none: spread over about 110 km around Shanghai by its id, so
    unrelated reports are not each other's duplicates (same category within 50 m)."""
    rnd = random.Random(report_id)
    return 31.23 + rnd.uniform(-0.5, 0.5), 121.47 + rnd.uniform(-0.5, 0.5)


def report_submitted(
    report_id: str,
    member_id: str,
    district: str,
    category: str,
    lat: float | None = None,
    lon: float | None = None,
) -> dict[str, Any]:
    if lat is None or lon is None:
        lat, lon = spot(report_id)
    data = {
        "report_id": report_id,
        "member_id": member_id,
        "category": category,
        "description": "路边发现问题，请处理。",
        "location": {"lat": lat, "lon": lon},
        "photos": [{"url": f"https://img.example.org/{report_id}.jpg"}],
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    return cloud_event(f"/district/{district}/rider-app", "report.submitted", report_id, data)


def status_changed(
    report_id: str, district: str, status: str, department: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"report_id": report_id, "status": status, "changed_at": datetime.now(UTC).isoformat()}
    if department:
        data["department"] = department
    if reason:
        data["reason"] = reason
    return cloud_event(f"/district/{district}/dispatch", "report.status_changed", report_id, data)


def report_rated(report_id: str, member_id: str, district: str, rating: int) -> dict[str, Any]:
    data = {"report_id": report_id, "member_id": member_id, "rating": rating, "comment": "处理及时"}
    return cloud_event(f"/district/{district}/rider-app", "report.rated", report_id, data)


def attendance_confirmed(member_id: str, hours: float) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(hours=hours)
    data = {
        "attendance_id": f"att-{uuid.uuid4().hex[:12]}",
        "activity_id": "act-traffic-guide",
        "activity_title": "路口文明交通引导 Crossing guide",
        "member_id": member_id,
        "hours": hours,
        "organizer": "街道志愿者协会",
        "started_at": start.isoformat(),
        "ended_at": datetime.now(UTC).isoformat(),
    }
    return cloud_event("/volunteer-platform", "volunteer.attendance_confirmed", member_id, data)


def redemption_requested(member_id: str, reward_id: str) -> dict[str, Any]:
    redemption_id = f"rdm-{uuid.uuid4().hex[:12]}"
    data = {"redemption_id": redemption_id, "member_id": member_id, "reward_id": reward_id}
    return cloud_event("/rider-app-gateway", "redemption.requested", redemption_id, data)


@dataclass
class DemoStats:
    published: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass
class _Report:
    report_id: str
    member_id: str
    district: str
    category: str
    status: str = "submitted"


class DemoTraffic:
    """Realistic riders at a steady pace (about `rate` events a second) until cancelled."""

    def __init__(self, bootstrap: str, riders: int = 40, rate: float = 4.0, seed: int | None = None) -> None:
        self.bootstrap = bootstrap
        self.rate = rate
        self.rnd = random.Random(seed)
        self.riders = [(f"rider-{i:04d}", DISTRICTS[i % len(DISTRICTS)]) for i in range(1, riders + 1)]
        self.open: list[_Report] = []
        self.stats = DemoStats()
        self._producer: AIOKafkaProducer | None = None

    async def _send(self, topic: str, key: str, event: dict[str, Any]) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(topic, encode_event(event), key=key.encode())
        self.stats.published += 1
        self.stats.by_type[event["type"]] = self.stats.by_type.get(event["type"], 0) + 1

    async def run(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=False)
        await self._producer.start()
        try:
            for member_id, district in self.riders:
                locale = "en" if self.rnd.random() < 0.2 else "zh-CN"
                await self._send(topics.MEMBERS, member_id, member_registered(member_id, district, locale))
            from .demo_needs import NeedsDemo  # it builds on this module's events

            needs = await NeedsDemo(self._send, self.riders, self.rnd).start()
            while True:
                if await needs.maybe_step():
                    await asyncio.sleep(self.rnd.expovariate(self.rate))
                    continue
                await self.step()
                await asyncio.sleep(self.rnd.expovariate(self.rate))
        finally:
            await self._producer.stop()

    async def step(self) -> None:
        roll = self.rnd.random()
        if roll < 0.35 or not self.open:
            member_id, district = self.rnd.choice(self.riders)
            r = _Report(f"rpt-{uuid.uuid4().hex[:12]}", member_id, district, self.rnd.choice(CATEGORIES))
            lat, lon = 31.2 + self.rnd.random() * 0.1, 121.4 + self.rnd.random() * 0.1
            await self._send(
                topics.REPORTS, r.report_id, report_submitted(r.report_id, member_id, district, r.category, lat, lon)
            )
            self.open.append(r)
        elif roll < 0.9:
            await self._advance(self.rnd.choice(self.open))
        elif roll < 0.97:
            member_id, _ = self.rnd.choice(self.riders)
            await self._send(
                topics.VOLUNTEER, member_id, attendance_confirmed(member_id, self.rnd.choice((1, 1.5, 2, 2.7, 3)))
            )
        else:  # a rider spends points on daily goods (rejected while they have too few: that is shown too)
            member_id, _ = self.rnd.choice(self.riders)
            await self._send(topics.REDEMPTIONS, member_id, redemption_requested(member_id, "daily-goods"))

    async def _advance(self, r: _Report) -> None:
        dept = DEPARTMENTS[r.category]
        if r.status == "resolved":
            if self.rnd.random() < 0.7:
                await self._send(
                    topics.REPORTS,
                    r.report_id,
                    report_rated(r.report_id, r.member_id, r.district, self.rnd.randint(3, 5)),
                )
            self.open.remove(r)
            return
        if r.status in ("submitted", "dispatched") and self.rnd.random() < 0.1:
            reason = self.rnd.choice(("duplicate", "invalid", "out_of_scope"))
            await self._send(
                topics.REPORTS, r.report_id, status_changed(r.report_id, r.district, "rejected", dept, reason)
            )
            self.open.remove(r)
            return
        nxt = {"submitted": "dispatched", "dispatched": "accepted", "accepted": "resolved"}[r.status]
        await self._send(topics.REPORTS, r.report_id, status_changed(r.report_id, r.district, nxt, dept))
        r.status = nxt
