"""Demo traffic for version 2: the department registry, riders asking for help (小哥点单), transfers.

It plays the department registry, the rider app and the dispatch platform as `demo.py` does: it only
publishes CloudEvents to the inbound topics. The departments registered here carry the names the
demo's dispatch platform uses (demo.DEPARTMENTS), so its statuses land on registered departments.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from incentives_kernel import topics

from .demo import DEPARTMENTS, cloud_event

Send = Callable[[str, str, dict[str, Any]], Awaitable[None]]

# id -> (name, districts served; empty: all). Names as the demo's dispatch platform sends them.
REGISTRY: dict[str, tuple[str, tuple[str, ...]]] = {
    "city-management": (DEPARTMENTS["shared_bike_parking"], ()),
    "fire-brigade": (DEPARTMENTS["fire_hazard"], ()),
    "traffic-police": (DEPARTMENTS["traffic_safety"], ()),
    "roads-office": (DEPARTMENTS["road_damage"], ()),
    "sanitation": (DEPARTMENTS["sanitation"], ()),
    "public-works": (DEPARTMENTS["public_facility"], ()),
    "community-centre": (DEPARTMENTS["elderly_assistance"], ()),
    "street-office": (DEPARTMENTS["other"], ()),
    "nanqu-street-office": ("南区街道办 Nanqu street office", ("nanqu",)),
    "legal-aid-centre": ("法律援助中心 Legal aid centre", ()),
    "womens-federation": ("妇联 Women's federation (childcare)", ()),
    "rider-station": ("骑手驿站 Rider station", ()),
    "health-centre": ("社区卫生服务中心 Health centre", ()),
}

# What riders ask for, and who the dispatch platform first sends it to (and where it may move).
NEEDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "childcare",
        "暑假孩子没人照看，希望有托管班。Summer childcare for my son.",
        ("nanqu-street-office", "womens-federation"),
    ),
    (
        "legal_aid",
        "站点拖欠两个月工资，需要法律援助。Two months of unpaid wages.",
        ("street-office", "legal-aid-centre"),
    ),
    ("rest_and_charging", "附近没有能充电歇脚的地方。Nowhere nearby to charge and rest.", ("rider-station",)),
    ("health", "长期腰痛，想咨询体检。Back pain: where to get a check-up?", ("health-centre",)),
    ("training", "想学电工证。I would like electrician training.", ("street-office",)),
)


def department_registered(department_id: str, name: str, districts: tuple[str, ...] = ()) -> dict[str, Any]:
    data = {"department_id": department_id, "name": name, "districts": list(districts)}
    return cloud_event("/department-registry", "department.registered", department_id, data)


def need_submitted(
    need_id: str,
    member_id: str,
    district: str,
    category: str,
    description: str = "需要帮助。I need help.",
    location: tuple[float, float] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "need_id": need_id,
        "member_id": member_id,
        "category": category,
        "description": description,
        "submitted_at": (at or datetime.now(UTC)).isoformat(),
    }
    if location is not None:
        data["location"] = {"lat": location[0], "lon": location[1]}
    return cloud_event(f"/district/{district}/rider-app", "need.submitted", need_id, data, time=at)


def need_status_changed(
    need_id: str,
    district: str,
    status: str,
    department: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"need_id": need_id, "status": status, "changed_at": (at or datetime.now(UTC)).isoformat()}
    for k, v in (("department", department), ("reason", reason), ("note", note)):
        if v is not None:
            data[k] = v
    return cloud_event(f"/district/{district}/dispatch", "need.status_changed", need_id, data, time=at)


def need_rated(need_id: str, member_id: str, district: str, rating: int, at: datetime | None = None) -> dict[str, Any]:
    data = {"need_id": need_id, "member_id": member_id, "rating": rating, "comment": "谢谢帮助"}
    return cloud_event(f"/district/{district}/rider-app", "need.rated", need_id, data, time=at)


@dataclass
class _Need:
    need_id: str
    member_id: str
    district: str
    route: tuple[str, ...]  # departments in turn: more than one is a transfer
    status: str = "submitted"
    hop: int = 0


class NeedsDemo:
    """Registers the departments once, then now and then a rider asks for help and it is handled."""

    def __init__(self, send: Send, riders: list[tuple[str, str]], rnd: random.Random, share: float = 0.15) -> None:
        self.send, self.riders, self.rnd, self.share = send, riders, rnd, share
        self.open: list[_Need] = []

    async def start(self) -> NeedsDemo:
        for department_id, (name, districts) in REGISTRY.items():
            await self.send(topics.DIRECTORY, department_id, department_registered(department_id, name, districts))
        return self

    async def maybe_step(self) -> bool:
        """With probability `share`, one step of the needs demo (True: a step was taken)."""
        if self.rnd.random() >= self.share:
            return False
        if not self.open or self.rnd.random() < 0.3:
            member_id, district = self.rnd.choice(self.riders)
            category, text, route = self.rnd.choice(NEEDS)
            n = _Need(f"need-{uuid.uuid4().hex[:12]}", member_id, district, route)
            where = (31.2 + self.rnd.random() * 0.1, 121.4 + self.rnd.random() * 0.1)
            await self.send(
                topics.REPORTS, n.need_id, need_submitted(n.need_id, member_id, district, category, text, where)
            )
            self.open.append(n)
            return True
        await self._advance(self.rnd.choice(self.open))
        return True

    async def _advance(self, n: _Need) -> None:
        if n.status == "resolved":
            await self.send(
                topics.REPORTS, n.need_id, need_rated(n.need_id, n.member_id, n.district, self.rnd.randint(3, 5))
            )
            self.open.remove(n)
            return
        department = n.route[n.hop]
        if n.status == "submitted":
            n.status = "dispatched"
        elif n.status == "dispatched" and n.hop + 1 < len(n.route):
            n.hop += 1  # a transfer: the first department finds it is another's job
            department = n.route[n.hop]
        else:
            n.status = {"dispatched": "accepted", "accepted": "resolved"}[n.status]
        note = "转交 transferred" if n.hop and n.status == "dispatched" else None
        await self.send(
            topics.REPORTS, n.need_id, need_status_changed(n.need_id, n.district, n.status, department, note=note)
        )
