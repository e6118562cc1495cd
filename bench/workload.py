"""The records M1 and MIX feed the points service, and the ledger they must leave behind.

`clean(n, m)`: n report.verified for m members (all `sanitation`, 5 points, no cap, no level move):
the happy path of issue 8's M1. `mix(n, m)`: the same volume as a realistic stream, per member in
order and members interleaved at random (seeded):

- about 10% of verified reports delivered twice (the same bytes, later in the member's stream);
- 2% reversals (report.verification_reversed of an earlier report of the member, after it);
- busy members (1 in 8) whose reports cross the daily cap (50 points) and the first star level (50
  points in 365 days), with categories worth 3 to 10 points;
- 0.1% poison records spread through the stream: half bytes that are not JSON, half CloudEvents
  whose data breaks the contract (an unknown category); each must be dead-lettered and cost the
  other records of its batch nothing but the batch's retry.

`Expected` is what the ledger must show afterwards; `check` compares it with the database and
returns the differences (a benchmark that lost or duplicated an event fails instead of reporting).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from incentives_kernel import topics
from incentives_kernel.db import Conn
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import cloud_event, member_registered

Record = tuple[str, bytes, bytes]  # topic, key, value
POINTS = {"fire_hazard": 10, "traffic_safety": 8, "road_damage": 6, "sanitation": 5, "other": 3}
DAILY_CAP = 50  # the default policy's cap on report and rating points per business day
FIRST_STAR = 50  # and its first star threshold (points in 365 days)


@dataclass
class Expected:
    reports: int = 0  # distinct verified reports that are not poison
    duplicates: int = 0  # of those, delivered twice
    reversals: int = 0
    poison: int = 0
    members_capped: int = 0
    members_first_star: int = 0
    net: dict[str, int] = field(default_factory=dict)  # member -> credits - debits
    credited_reports: int = 0  # reports that earned more than 0 (one transfer each)
    capped_reports: int = 0  # reports cut by the cap (one cap_cuts row each)

    @property
    def records(self) -> int:
        return self.reports + self.duplicates + self.reversals + self.poison


def member_ids(m: int, prefix: str = "bm") -> list[str]:
    return [f"{prefix}-{i}" for i in range(m)]


def registrations(members: list[str], districts: int) -> list[Record]:
    return [
        (topics.MEMBERS, mid.encode(), encode_event(member_registered(mid, f"d{i % districts}")))
        for i, mid in enumerate(members)
    ]


def verified(member: str, report: str, category: str = "sanitation", at: datetime | None = None) -> dict[str, Any]:
    at = at or datetime.now(UTC)
    data = {
        "report_id": report,
        "member_id": member,
        "category": category,
        "district": "x",
        "status": "accepted",
        "verified_at": at.isoformat(),
    }
    return cloud_event("/incentives/reports", "report.verified", report, data, time=at)


def reversed_(member: str, report: str, at: datetime) -> dict[str, Any]:
    data = {"report_id": report, "member_id": member, "reason": "invalid", "reversed_at": at.isoformat()}
    return cloud_event("/incentives/reports", "report.verification_reversed", report, data, time=at)


def clean(n: int, m: int, prefix: str = "bm") -> tuple[list[Record], Expected]:
    members, at = member_ids(m, prefix), datetime.now(UTC)
    out: list[Record] = []
    exp = Expected(reports=n, credited_reports=n)
    for i in range(n):
        member = members[i % m]
        out.append(
            (
                topics.REPORTS_LIFECYCLE,
                member.encode(),
                encode_event(verified(member, f"br-{uuid.uuid4().hex[:12]}", at=at)),
            )
        )
        exp.net[member] = exp.net.get(member, 0) + POINTS["sanitation"]
    return out, exp


def mix(n: int, m: int, prefix: str = "bm", seed: int = 19) -> tuple[list[Record], Expected]:
    """About n records for m members: the realistic stream described above, with what it must credit."""
    rnd = random.Random(seed)
    members, at = member_ids(m, prefix), datetime.now(UTC)
    busy = set(members[:: max(1, 8)])
    exp = Expected()
    # How many records each member gets: busy members many (they cross the cap), others a few.
    weights = [6.0 if mid in busy else 1.0 for mid in members]
    counts = dict.fromkeys(members, 0)
    for mid in rnd.choices(members, weights, k=n):
        counts[mid] += 1
    streams: dict[str, list[Record]] = {}
    for mid, k in counts.items():
        stream: list[Record] = []
        reports: list[tuple[str, int]] = []
        earned = 0
        for _ in range(k):
            roll = rnd.random()
            if roll < 0.001:  # poison, two kinds
                exp.poison += 1
                if rnd.random() < 0.5:
                    stream.append((topics.REPORTS_LIFECYCLE, mid.encode(), b'{"specversion": "1.0", "id": '))
                else:
                    bad = verified(mid, f"bp-{uuid.uuid4().hex[:12]}", "no_such_category", at)
                    stream.append((topics.REPORTS_LIFECYCLE, mid.encode(), encode_event(bad)))
                continue
            category = rnd.choice(list(POINTS)) if mid in busy else "sanitation"
            report = f"br-{uuid.uuid4().hex[:12]}"
            value = encode_event(verified(mid, report, category, at))
            stream.append((topics.REPORTS_LIFECYCLE, mid.encode(), value))
            exp.reports += 1
            credit = min(POINTS[category], DAILY_CAP - earned)
            if credit < POINTS[category]:
                exp.capped_reports += 1
            if credit > 0:
                exp.credited_reports += 1
            earned += credit
            reports.append((report, credit))
            if roll < 0.101:  # delivered twice: the same bytes again, a little later in its stream
                stream.append(stream[-1])
                exp.duplicates += 1
        net = earned
        # Reversals of some non-busy members' reports, after their last report (so the cap's room
        # never depends on them): non-busy members hold about 54% of the reports, so 3.7% of theirs
        # is about 2% of the stream.
        if mid not in busy:
            for report, credit in reports:
                if rnd.random() < 0.037:
                    stream.append((topics.REPORTS_LIFECYCLE, mid.encode(), encode_event(reversed_(mid, report, at))))
                    exp.reversals += 1
                    net -= credit
        if earned >= DAILY_CAP:
            exp.members_capped += 1
        if earned >= FIRST_STAR and net >= FIRST_STAR:
            exp.members_first_star += 1
        if k:
            exp.net[mid] = net
        streams[mid] = stream
    return _interleave(streams, rnd), exp


def _interleave(streams: dict[str, list[Record]], rnd: random.Random) -> list[Record]:
    """One stream of every member's records, each member's in its order, members mixed at random."""
    slots = [mid for mid, s in streams.items() for _ in s]
    rnd.shuffle(slots)
    position = dict.fromkeys(streams, 0)
    out: list[Record] = []
    for mid in slots:
        out.append(streams[mid][position[mid]])
        position[mid] += 1
    return out


async def check(conn: Conn, exp: Expected) -> list[str]:
    """What the points ledger shows that it should not (empty: every event counted exactly once)."""
    problems: list[str] = []
    rows = await conn.fetch("SELECT member_id, credits - debits AS net FROM points.member_balances")
    actual = {r["member_id"]: int(r["net"]) for r in rows}
    wrong = [(mid, want, actual.get(mid, 0)) for mid, want in exp.net.items() if actual.get(mid, 0) != want]
    if wrong:
        sample = ", ".join(f"{mid} {got} (want {want})" for mid, want, got in wrong[:8])
        problems.append(f"{len(wrong)} member balances differ from the expected ledger: {sample}")
    by_kind = await conn.fetch("SELECT kind, count(*) AS n FROM points.transfers GROUP BY 1")
    kinds = {r["kind"]: int(r["n"]) for r in by_kind}
    if kinds.get("report", 0) != exp.credited_reports:
        problems.append(f"report transfers {kinds.get('report', 0)}, expected {exp.credited_reports}")
    reversals = sum(v for k, v in kinds.items() if k != "report")
    if reversals != exp.reversals:
        problems.append(f"reversal transfers {reversals} ({kinds}), expected {exp.reversals}")
    cuts = await conn.fetchval("SELECT count(*) FROM points.cap_cuts")
    if cuts != exp.capped_reports:
        problems.append(f"cap cuts {cuts}, expected {exp.capped_reports}")
    dlq = topics.dlq_topic(topics.REPORTS_LIFECYCLE)
    dead = await conn.fetchval("SELECT count(*) FROM points.outbox WHERE topic = $1", dlq)
    if dead != exp.poison:
        problems.append(f"dead letters {dead}, expected {exp.poison} (the poison records)")
    starred = await conn.fetchval("SELECT count(*) FROM points.member_levels WHERE level >= 1")
    if starred != exp.members_first_star:
        problems.append(f"members at a star level {starred}, expected {exp.members_first_star}")
    return problems


def to_jsonl(records: list[Record]) -> str:
    """The records for another producer (bench/kafkajs/produce.mjs): one JSON object a line, value in base64."""
    import base64

    return "".join(
        json.dumps({"t": t, "k": k.decode(), "v": base64.b64encode(v).decode()}) + "\n" for t, k, v in records
    )
