"""The load of a fault test: a recorded history of inbound events, and what it must come to.

A history is what the other municipal systems send (registrations, reports and their status loop,
ratings, volunteering, a few redemptions). It is built before it is sent, so the test knows every
(source, id) it must find in the inboxes and the points each member must end with, whatever the
faults did to the delivery. Members get at most three reports, so the daily cap (50) never cuts
and the expected points are a plain sum.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.audit import Sent
from incentives_ops.demo import (
    CATEGORIES,
    DEPARTMENTS,
    attendance_confirmed,
    member_registered,
    redemption_requested,
    report_rated,
    report_submitted,
    status_changed,
)
from incentives_ops.demo_needs import need_rated, need_status_changed, need_submitted

from tests.support import uid

POINTS = {
    "fire_hazard": 10,
    "traffic_safety": 8,
    "elderly_assistance": 8,
    "road_damage": 6,
    "shared_bike_parking": 5,
    "sanitation": 5,
    "public_facility": 5,
    "other": 3,
}
HOURS = {1.0: 10, 1.5: 15, 2.0: 20, 2.7: 25}  # whole half hours, 10 points an hour
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # poison tests send records over 1 MiB


@dataclass
class Record:
    topic: str
    key: str
    value: bytes
    source: str
    event_id: str
    poison: bool = False
    partition: int | None = None  # None: the key decides (per-key order kept)
    landed: tuple[int, int] | None = None  # (partition, offset) once sent


def record(topic: str, key: str, event: dict[str, Any]) -> Record:
    return Record(topic, key, encode_event(event), event["source"], event["id"])


@dataclass
class History:
    district: str
    reward_id: str
    records: list[Record] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    rated: list[str] = field(default_factory=list)
    redemptions: list[str] = field(default_factory=list)
    expected_earned: dict[str, int] = field(default_factory=dict)
    sent_count: int = 0  # deliveries, duplicates and replays included

    def sent(self) -> list[Sent]:
        """One entry per distinct event (a duplicate is the same event), for the audit's history check."""
        out: dict[tuple[str, str], Sent] = {}
        for r in self.records:
            if r.poison:
                partition, offset = r.landed or (-1, -1)
                out[(r.topic, f"{partition}/{offset}")] = Sent(r.topic, r.source, r.event_id, partition, offset, True)
            else:
                out.setdefault((r.source, r.event_id), Sent(r.topic, r.source, r.event_id))
        return list(out.values())


def build(n_events: int, reward_id: str, seed: int, *, ratings: bool = True) -> History:
    """About `n_events` events in a plausible order: registrations first, then every report's loop
    interleaved with the others (each report's own events in order), volunteering and redemptions."""
    rnd = random.Random(seed)
    district = "nanqu"
    n_reports = max(3, int(n_events / 5.6))
    h = History(district, reward_id)
    h.members = [uid("fm") for _ in range((n_reports + 2) // 3)]
    h.expected_earned = dict.fromkeys(h.members, 0)
    h.records = [record(topics.MEMBERS, m, member_registered(m, district)) for m in h.members]
    streams: list[list[Record]] = []
    for i in range(n_reports):
        member, report, category = h.members[i // 3], uid("fr"), rnd.choice(CATEGORIES)
        dept = DEPARTMENTS[category]
        stream = [
            record(topics.REPORTS, report, report_submitted(report, member, district, category)),
            record(topics.REPORTS, report, status_changed(report, district, "dispatched", dept)),
            record(topics.REPORTS, report, status_changed(report, district, "accepted", dept)),
            record(topics.REPORTS, report, status_changed(report, district, "resolved", dept)),
        ]
        h.expected_earned[member] += POINTS[category]
        if ratings:
            stream.append(record(topics.REPORTS, report, report_rated(report, member, district, rnd.randint(1, 5))))
            h.expected_earned[member] += 1
            h.rated.append(report)
        h.reports.append(report)
        streams.append(stream)
    # Riders' needs: each transferred once, resolved and (with ratings) rated: the rating point, once.
    for i in range(max(1, n_reports // 5)):
        member, need = h.members[i % len(h.members)], uid("fn")
        stream = [
            record(topics.REPORTS, need, need_submitted(need, member, district, "legal_aid")),
            record(topics.REPORTS, need, need_status_changed(need, district, "dispatched", "街道办 Street office")),
            record(topics.REPORTS, need, need_status_changed(need, district, "dispatched", "法律援助中心 Legal aid")),
            record(topics.REPORTS, need, need_status_changed(need, district, "resolved")),
        ]
        if ratings:
            stream.append(record(topics.REPORTS, need, need_rated(need, member, district, rnd.randint(1, 5))))
            h.expected_earned[member] += 1
        h.needs.append(need)
        streams.append(stream)
    for _ in range(max(1, n_reports // 4)):
        member, hours = rnd.choice(h.members), rnd.choice(list(HOURS))
        streams.append([record(topics.VOLUNTEER, member, attendance_confirmed(member, hours))])
        h.expected_earned[member] += HOURS[hours]
    for _ in range(max(2, n_reports // 20)):
        member = rnd.choice(h.members)
        event = redemption_requested(member, reward_id)
        h.redemptions.append(event["data"]["redemption_id"])
        streams.append([record(topics.REDEMPTIONS, member, event)])
    while streams:  # a random merge that keeps each stream's order
        stream = rnd.choice(streams)
        h.records.append(stream.pop(0))
        if not stream:
            streams.remove(stream)
    return h


def rating_records(h: History) -> list[Record]:
    """The ratings of reports and needs (sent after the rest: a rating before the resolution is refused)."""
    return [
        r
        for r in h.records
        if r.topic == topics.REPORTS and (b'"report.rated"' in r.value or b'"need.rated"' in r.value)
    ]


class Sender:
    """A producer as the other systems run one: acks=all, no idempotence (Tansu), paced."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.failed = 0

    async def send(self, h: History, records: list[Record], duration_s: float = 0.0) -> None:
        """Send `records` spread over `duration_s`; a send that fails is counted, not retried (the
        caller replays the history if the broker lost it)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=False,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=60_000,
        )
        await producer.start()
        try:
            started = time.monotonic()
            pace = duration_s / max(1, len(records))
            futures = []
            for i, r in enumerate(records):
                futures.append((r, await producer.send(r.topic, r.value, key=r.key.encode(), partition=r.partition)))
                ahead = started + i * pace - time.monotonic()
                if ahead > 0.02:
                    await asyncio.sleep(ahead)
            for r, future in futures:
                try:
                    meta = await future
                except Exception:
                    self.failed += 1
                    continue
                r.landed = (meta.partition, meta.offset)
                h.sent_count += 1
        finally:
            await producer.stop()
