"""A batch handled whole (one inbox claim, set-based credits) ends as handling it event by event does.

The points consumer tries each batch whole: one savepoint, one inbox statement, a run of credits
written with one statement per kind of row (points.credits), outbox rows in one round trip. These
tests drive it on a real PostgreSQL: it must leave every table and the outbox as `earn` and
`reverse` one event after another do (daily cap, levels, duplicates, already credited, reversals in
the same run as credits, before them, twice, of nothing), and a poison record or a parked event in
the middle of a batch must fall back to the per-record path without partial effect.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import pytest_asyncio
from aiokafka.structs import ConsumerRecord
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.engine import EventConsumer
from incentives_kernel.envelope import encode_event
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.health import Health
from incentives_kernel.intake import Intake, SourcePolicy
from incentives_kernel.metrics import KernelMetrics
from incentives_kernel.outcome import Batchable
from points import subscribers, usecases
from points.metrics import PointsMetrics
from points.usecases import Deps
from prometheus_client import CollectorRegistry

from tests.conftest import Infra
from tests.support import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

# A moment of today's Shanghai day that is never ahead of now by more than the event-time skew
# (the contract's "Event time" rule dead-letters a future time), whenever the tests run.
_DAY_START = datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=0, minute=0, second=1, microsecond=0)
EARLY = _DAY_START.isoformat()
LATER = (_DAY_START + timedelta(minutes=1)).isoformat()
CREDIT_TYPES = ("report.verified", "report.rating_recorded", "volunteer.attendance_confirmed")


@dataclass
class System:
    pool: asyncpg.Pool
    consumer: EventConsumer
    statements: list[str] = field(default_factory=list)
    offsets: itertools.count = field(default_factory=itertools.count)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def domain_metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The points service's own counters (not the kernel's, which count batches)."""
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for m in self.registry.collect()
            for s in m.samples
            if s.name.startswith("incentives_points_") and s.name.endswith("_total")
        }

    def record(self, value: dict[str, Any] | bytes) -> ConsumerRecord[bytes, bytes]:
        """A record keyed by its member, as every topic points reads is."""
        raw = value if isinstance(value, bytes) else encode_event(value)
        key = (value["data"]["member_id"] if isinstance(value, dict) else "?").encode()
        return ConsumerRecord("batch.v1", 0, next(self.offsets), 0, 0, key, raw, None, len(key), len(raw), [])

    async def deliver(self, *events: dict[str, Any] | bytes) -> None:
        await self.consumer.handle_batch([self.record(e) for e in events])

    async def deliver_one_by_one(self, *events: dict[str, Any] | bytes) -> None:
        """Each record in a batch of its own: the per-record order, strictly."""
        for e in events:
            await self.consumer.handle_batch([self.record(e)])


async def _system(dsn: str, *, set_based: bool) -> System:
    pool = await make_pool(dsn, "points", min_size=1, max_size=1, application_name="batch-test")
    system = System(pool, None)  # type: ignore[arg-type]
    async with pool.acquire() as conn:
        await migrate(conn, "points", load_migrations(migrations_dir("points")))
        conn.add_query_logger(lambda q: system.statements.append(q.query))
    registry = system.registry
    deps = Deps(PointsMetrics(registry), "Asia/Shanghai")
    use_cases = subscribers.use_cases(deps)
    if not set_based:  # the reference: each event's one-event use case (`earn`, `reverse`), one after another
        use_cases = {t: u.one if isinstance(u, Batchable) else u for t, u in use_cases.items()}
    system.consumer = EventConsumer(
        service="points",
        pool=lambda: pool,
        metrics=KernelMetrics("points", registry),
        health=Health(),
        use_cases=use_cases,
        types=ALL_TYPES,
        ignore_types=subscribers.IGNORED,
    )
    return system


@pytest_asyncio.fixture(loop_scope="session")
async def pair(infra: Infra) -> AsyncIterator[tuple[System, System]]:
    """The points consumer as the service runs it, and a reference crediting with `earn` one by one."""
    async with scratch_database(infra.admin_dsn, "batch") as a, scratch_database(infra.admin_dsn, "batch") as b:
        made = (await _system(a, set_based=True), await _system(b, set_based=False))
        try:
            yield made
        finally:
            for s in made:
                await s.pool.close()


@pytest_asyncio.fixture(loop_scope="session")
async def system(pair: tuple[System, System]) -> System:
    return pair[0]


def event(type_: str, data: dict[str, Any], time: str = EARLY) -> dict[str, Any]:
    return {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/test", "type": type_, "time": time, "data": data}


def registered(member: str, district: str = "d1") -> dict[str, Any]:
    data = {"member_id": member, "name": "x", "phone": "000", "occupation": "courier", "district": district}
    return event("member.registered", {**data, "registered_at": EARLY})


def verified(member: str, report: str, category: str = "fire_hazard") -> dict[str, Any]:
    data = {"report_id": report, "member_id": member, "category": category, "district": "x", "status": "accepted"}
    return event("report.verified", {**data, "verified_at": EARLY})


def rated(member: str, report: str) -> dict[str, Any]:
    return event("report.rating_recorded", {"report_id": report, "member_id": member, "rating": 5, "rated_at": EARLY})


def volunteered(member: str, attendance: str, hours: float) -> dict[str, Any]:
    data = {"attendance_id": attendance, "activity_id": "act", "activity_title": "park clean-up", "member_id": member}
    return event(
        "volunteer.attendance_confirmed",
        {**data, "hours": hours, "organizer": "org", "started_at": EARLY, "ended_at": EARLY},
    )


STATE = {
    "transfers": "SELECT transfer_id, member_id, amount, kind, debit_account FROM transfers ORDER BY transfer_id",
    "balances": "SELECT member_id, credits, debits, held FROM member_balances ORDER BY member_id",
    "daily": "SELECT member_id, day, earned FROM daily_earnings WHERE earned > 0 ORDER BY member_id, day",
    "cuts": "SELECT cut_id, member_id, requested, credited, cut FROM cap_cuts ORDER BY cut_id",
    "by_day": "SELECT member_id, day, earned FROM earned_by_day ORDER BY member_id, day",
    "periods": "SELECT period, period_start, member_id, district, earned FROM period_totals ORDER BY 1, 2, 3",
    "levels": "SELECT member_id, level, earned_365d FROM member_levels WHERE level > 0 ORDER BY member_id",
    "inbox": "SELECT event_id, outcome, reason FROM inbox ORDER BY event_id",
    # Per key, in order: only the order of records with the same key is kept (and guaranteed).
    "outbox": "SELECT topic, event_id, key FROM outbox ORDER BY key, id",
    "balances announced": """SELECT event_id, convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'balance' AS balance
                             FROM outbox WHERE convert_from(value, 'UTF8')::jsonb ->> 'type' = 'points.credited'
                             ORDER BY key, id""",
}


async def state(system: System) -> dict[str, list[tuple[Any, ...]]]:
    async with system.pool.acquire() as conn:
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in STATE.items()}


async def test_a_run_of_credits_at_once_ends_as_earn_one_by_one_does(pair: tuple[System, System]) -> None:
    set_based, reference = pair
    p = uuid.uuid4().hex[:6]
    m1, m2, m3 = f"{p}-m1", f"{p}-m2", f"{p}-m3"
    again = verified(m2, f"{p}-r20", "sanitation")
    credits = [
        verified(m1, f"{p}-r0", "sanitation"),  # 5
        *(verified(m1, f"{p}-r{i}") for i in range(1, 3)),  # 10 each
        verified(m2, f"{p}-r20", "sanitation"),
        volunteered(m1, f"{p}-a1", 3),  # 30, not capped: m1 reaches level 1 here
        again,
        again,  # the same event twice in one batch: a duplicate
        verified(m2, f"{p}-r20", "sanitation"),  # the same report again: already credited
        *(verified(m1, f"{p}-r{i}") for i in range(3, 6)),  # 45 after r4; r5: 5 credited, 5 cut by the cap
        rated(m1, f"{p}-r0"),  # capped kind, cap reached: all cut
        volunteered(m1, f"{p}-a9", 1),  # not capped: 10 more, announced after the cut just before it
        volunteered(m2, f"{p}-a2", 0.2),  # less than half an hour: ignored
        volunteered(m3, f"{p}-a3", 24),  # 240: straight to level 2
        verified(m3, f"{p}-r30", "sanitation"),
    ]
    registrations = [registered(m1), registered(m2, "d2"), registered(m3)]
    sent = []
    for system, deliver in ((set_based, set_based.deliver), (reference, reference.deliver_one_by_one)):
        await deliver(*registrations)
        system.statements.clear()
        await deliver(*credits)
        sent.append(len(system.statements))

    expected = await state(reference)
    assert await state(set_based) == expected
    # The scenario covers what it claims to, and the set-based run took a handful of statements.
    assert sorted(c[3:] for c in expected["cuts"]) == [(0, 1), (5, 5)]
    assert {(m, lvl) for m, lvl, _ in expected["levels"]} == {(m1, 1), (m3, 2)}
    assert sorted(int(b) for _, b in expected["balances announced"]) == [5, 5, 15, 25, 55, 65, 75, 80, 90, 240, 245]
    assert sent[0] * 4 < sent[1], f"statements sent for the batch, set-based vs one by one: {sent}"


async def test_a_poison_record_in_a_batch_is_dead_lettered_once_and_the_rest_applied_once(system: System) -> None:
    p = uuid.uuid4().hex[:6]
    m1, gone = f"{p}-m1", f"{p}-gone"
    deactivated = event("member.deactivated", {"member_id": gone, "reason": "left"}, time=LATER)
    await system.deliver(registered(m1), registered(gone))
    await system.deliver(deactivated)
    batch = [
        verified(m1, f"{p}-r1"),
        verified(gone, f"{p}-r2"),  # refused: deactivated (PermanentError)
        verified(m1, f"{p}-r3"),
        b"{not json",  # unparseable
        verified(m1, f"{p}-r4", "sanitation"),
    ]
    records = [system.record(e) for e in batch]
    await system.consumer.handle_batch(records)
    await system.consumer.handle_batch(records)  # redelivered whole: nothing twice

    async with system.pool.acquire() as conn:
        transfers = await conn.fetch("SELECT member_id, amount FROM transfers ORDER BY seq")
        dead = await conn.fetch("SELECT topic FROM outbox WHERE topic = 'batch.v1.dlq' ORDER BY id")
        credited = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'incentives.points.v1'")
        outcomes = dict(await conn.fetch("SELECT reason, count(*) FROM inbox GROUP BY reason"))
        balance = await conn.fetchval("SELECT credits FROM member_balances WHERE member_id = $1", m1)
    assert [tuple(t) for t in transfers] == [(m1, 10), (m1, 10), (m1, 5)]
    assert len(dead) == 2
    assert credited == 3
    assert outcomes["member_deactivated"] == 1
    assert outcomes["invalid_json"] == 1
    assert balance == 25


async def test_a_batch_where_an_event_parks_keeps_per_member_order(system: System) -> None:
    p = uuid.uuid4().hex[:6]
    m1, late = f"{p}-m1", f"{p}-late"
    await system.deliver(registered(m1))
    await system.deliver(verified(m1, f"{p}-r1"), verified(late, f"{p}-r2", "sanitation"), verified(m1, f"{p}-r3"))
    async with system.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM parked_events WHERE awaiting = $1", f"member:{late}") == 1
        assert await conn.fetchval("SELECT credits FROM member_balances WHERE member_id = $1", m1) == 20
    # The registration releases the parked credit; a later credit in the same batch comes after it.
    await system.deliver(registered(late), verified(late, f"{p}-r4", "sanitation"))
    async with system.pool.acquire() as conn:
        announced = await conn.fetch(
            """SELECT convert_from(value, 'UTF8')::jsonb -> 'data' AS data FROM outbox
               WHERE key = $1 AND topic = 'incentives.points.v1' ORDER BY id""",
            late.encode(),
        )
        parked = await conn.fetchval("SELECT count(*) FROM parked_events")
    assert [(a["data"]["ref"], a["data"]["balance"]) for a in announced] == [(f"{p}-r2", 5), (f"{p}-r4", 10)]
    assert parked == 0


async def test_credits_released_by_a_batch_of_registrations_end_as_one_by_one(pair: tuple[System, System]) -> None:
    set_based, reference = pair
    p = uuid.uuid4().hex[:6]
    a, b, c = f"{p}-a", f"{p}-b", f"{p}-c"
    early = [verified(a, f"{p}-a1"), verified(b, f"{p}-b1"), verified(a, f"{p}-a2", "sanitation"), registered(c)]
    then = [
        registered(a),
        registered(b, "d2"),
        verified(c, f"{p}-c1"),  # another member: may pass a's and b's released credits
        verified(a, f"{p}-a3"),  # must come after a1 and a2
        volunteered(b, f"{p}-b2", 5),  # after b1: b reaches level 1
    ]
    sent: list[tuple[int, int]] = []
    for system, deliver in ((set_based, set_based.deliver), (reference, reference.deliver_one_by_one)):
        system.statements.clear()
        await deliver(*early)
        parking = len(system.statements)
        system.statements.clear()
        await deliver(*then)
        sent.append((parking, len(system.statements)))
    expected = await state(reference)
    assert await state(set_based) == expected
    async with set_based.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM parked_events") == 0
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE outcome <> 'applied'") == 0
    announced = [int(balance) for _, balance in expected["balances announced"]]
    assert announced == [10, 15, 25, 10, 60, 10]  # a: a1 a2 a3; b: b1 b2; c: c1
    (parking_set, releasing_set), (parking_one, releasing_one) = sent
    assert parking_set * 2 < parking_one, f"statements sent to park, set-based vs one by one: {sent}"
    assert releasing_set * 2 < releasing_one, f"statements sent to release, set-based vs one by one: {sent}"


async def test_a_run_whose_set_based_call_fails_unexpectedly_is_credited_one_by_one(system: System) -> None:
    async def broken(conn: Any, events: Any) -> list[Any]:
        raise RuntimeError("a bug in many only")

    deps = Deps(PointsMetrics(CollectorRegistry()), "Asia/Shanghai")
    credit = Batchable(partial(usecases.credit, deps=deps), broken)
    system.consumer = EventConsumer(
        service="points",
        pool=lambda: system.pool,
        metrics=KernelMetrics("points", CollectorRegistry()),
        health=Health(),
        use_cases=subscribers.use_cases(deps) | {t: credit for t in CREDIT_TYPES},
        types=ALL_TYPES,
        ignore_types=subscribers.IGNORED,
    )
    p = uuid.uuid4().hex[:6]
    m1 = f"{p}-m1"
    batch = [registered(m1), verified(m1, f"{p}-r1"), verified(m1, f"{p}-r2", "sanitation")]
    records = [system.record(e) for e in batch]
    await system.consumer.handle_batch(records)
    await system.consumer.handle_batch(records)
    async with system.pool.acquire() as conn:
        assert await conn.fetchval("SELECT credits FROM member_balances WHERE member_id = $1", m1) == 15
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE key = $1", m1.encode()) == 2
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE outcome <> 'applied'") == 0


async def test_a_source_the_allow_list_refuses_is_dead_lettered_even_in_a_batch_that_would_go_whole(
    system: System,
) -> None:
    """The whole-batch path parses records itself: it must apply the same intake check."""
    policy = SourcePolicy.from_mapping({"topics": {"batch.v1": {"*": ["/test"]}}})
    guarded = EventConsumer(
        service="points",
        pool=lambda: system.pool,
        metrics=KernelMetrics("points", CollectorRegistry()),
        health=Health(),
        use_cases=system.consumer.use_cases,
        types=ALL_TYPES,
        ignore_types=subscribers.IGNORED,
        intake=Intake(policy),
    )
    p = uuid.uuid4().hex[:6]
    m = f"{p}-m"
    await system.deliver(registered(m))
    forged = {**verified(m, f"{p}-forged"), "source": "/somebody/else"}
    batch = [system.record(e) for e in (verified(m, f"{p}-r1"), forged, verified(m, f"{p}-r2"))]
    await guarded.handle_batch(batch)
    async with system.pool.acquire() as conn:
        reports = await conn.fetch("SELECT source_event_id FROM transfers WHERE member_id = $1 ORDER BY seq", m)
        refused = await conn.fetchval("SELECT count(*) FROM inbox WHERE reason = 'source_not_allowed'")
    assert len(reports) == 2  # the two genuine credits, not the forged one
    assert refused >= 1


# ------------------------------------------------------------ credits and reversals in one run, at random

YESTERDAY = (_DAY_START - timedelta(hours=12)).isoformat()

# Every column the two paths must agree on (not sequences, creation times, or a level move's own time).
FULL_STATE = {
    **STATE,
    "transfers": """SELECT transfer_id, debit_account, credit_account, amount, kind, member_id, rule_version, reason,
                           source, source_event_id, occurred_at, ref, reverses FROM transfers ORDER BY transfer_id""",
    "cuts": """SELECT cut_id, member_id, day, kind, ref, requested, credited, cut, rule_version, reason, source,
                      source_event_id, occurred_at FROM cap_cuts ORDER BY cut_id""",
    "daily": "SELECT member_id, day, earned FROM daily_earnings ORDER BY member_id, day",
    "levels": "SELECT member_id, level, earned_365d FROM member_levels ORDER BY member_id",
    "parked": "SELECT source, event_id, awaiting, reason FROM parked_events ORDER BY source, event_id",
    # Each member's points events in order, whole but for a level move's own time (now()).
    "announced": """SELECT key, event_id, (convert_from(value, 'UTF8')::jsonb -> 'data') - 'occurred_at' AS data
                    FROM outbox WHERE topic = 'incentives.points.v1' ORDER BY key, id""",
}


async def full_state(system: System) -> dict[str, list[tuple[Any, ...]]]:
    async with system.pool.acquire() as conn:
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in FULL_STATE.items()}


def reversed_(member: str, report: str, reason: str = "invalid") -> dict[str, Any]:
    data = {"report_id": report, "member_id": member, "reason": reason, "reversed_at": EARLY}
    return event("report.verification_reversed", data)


def revoked(member: str, attendance: str) -> dict[str, Any]:
    data = {"attendance_id": attendance, "member_id": member, "reason": "no-show"}
    return event("volunteer.attendance_revoked", data)


def mixed_stream(rnd: random.Random, p: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Registrations, then a random stream of credits and reversals for a few members: duplicates,
    announcements of what was credited already, reversals of credits, of credits still to come and of
    nothing, twice over, of another member's credit (dead-lettered), ratings and volunteering that
    cross the daily cap and star levels both ways, a member who registers mid-stream (what came
    before waits for it) and one who is deactivated mid-stream (what they earn after is dead-lettered)."""
    known = [f"{p}-m{i}" for i in range(4)]
    late, leaving = f"{p}-late", known[3]
    everyone = [*known, late]
    registrations = [registered(m, f"d{i % 2}") for i, m in enumerate(known)]
    reports: list[tuple[str, str]] = []  # (member, report) verified so far
    attendances: list[tuple[str, str]] = []
    sent: list[dict[str, Any]] = []
    n = 0

    def fresh(kind: str) -> str:
        nonlocal n
        n += 1
        return f"{p}-{kind}{n}"

    stream: list[dict[str, Any]] = []
    for step in range(160):
        # m0 is busy (past the cap most days); reversals often take back a recent credit, in its run.
        roll, member = rnd.random(), rnd.choices(everyone, [4, 1, 1, 1, 1])[0]
        if roll < 0.30 or not reports:
            report = fresh("r")
            e = verified(member, report, rnd.choice(["fire_hazard", "traffic_safety", "sanitation", "other"]))
            if rnd.random() < 0.15:
                e["time"] = e["data"]["verified_at"] = YESTERDAY  # another business day: another cap
            reports.append((member, report))
        elif roll < 0.40:
            e = rnd.choice(sent)  # the same event delivered again
        elif roll < 0.45:
            who, report = rnd.choice(reports)
            e = verified(who, report, "sanitation")  # the same report, announced again
        elif roll < 0.52:
            who, report = rnd.choice(reports)
            e = rated(who, report)
        elif roll < 0.60:
            attendance = fresh("a")
            e = volunteered(member, attendance, rnd.choice([0.2, 1, 3, 6, 24]))
            attendances.append((member, attendance))
        elif roll < 0.78:
            who, report = rnd.choice(reports[-4:] if rnd.random() < 0.6 else reports)
            e = reversed_(who, report, rnd.choice(["invalid", "fraudulent"]))
        elif roll < 0.83:
            # A reversal before its credit: nothing to reverse yet; the credit may follow.
            report = fresh("r")
            e = reversed_(member, report)
            reports.append((member, report))
        elif roll < 0.90 and attendances:
            e = revoked(*rnd.choice(attendances))
        elif roll < 0.92:
            who, report = rnd.choice(reports)
            other = rnd.choice([m for m in known if m != who])
            e = reversed_(other, report)  # another member's credit: dead-lettered where there is one
        elif roll < 0.95 and late not in {x["data"]["member_id"] for x in sent if x["type"] == "member.registered"}:
            e = registered(late, "d2")
        elif roll < 0.96 and step > 100:
            e = event("member.deactivated", {"member_id": leaving, "reason": "left"}, time=LATER)
        else:
            report = fresh("r")
            e = verified(member, report, "fire_hazard")
            reports.append((member, report))
        sent.append(e)
        stream.append(e)
    return registrations, stream


async def deliver_in_random_batches(system: System, rnd: random.Random, events: list[dict[str, Any]]) -> None:
    i = 0
    while i < len(events):
        size = rnd.randint(1, 60)
        await system.deliver(*events[i : i + size])
        i += size


@pytest.mark.parametrize("seed", [19, 25, 2026])
async def test_random_runs_of_credits_and_reversals_end_as_one_by_one(pair: tuple[System, System], seed: int) -> None:
    set_based, reference = pair
    rnd = random.Random(seed)
    p = f"x{seed}-{uuid.uuid4().hex[:6]}"
    registrations, stream = mixed_stream(rnd, p)
    busy = f"{p}-m0"
    # What a random stream rarely puts in one batch: a credit the cap cut in part, and its reversal
    # (it takes back what was credited, not what was asked), then the same again and once more.
    cut_in_part = verified(busy, f"{p}-cut", "sanitation")  # 5 asked, 2 credited after 48
    scripted = [
        *(verified(busy, f"{p}-f{i}") for i in range(4)),
        verified(busy, f"{p}-t", "traffic_safety"),
        cut_in_part,
        reversed_(busy, f"{p}-cut"),
        rated(busy, f"{p}-f0"),  # cut to nothing
        reversed_(busy, f"{p}-cut", "fraudulent"),  # already reversed, in the same run
        reversed_(busy, f"{p}-f1"),
        reversed_(f"{p}-m1", f"{p}-f2"),  # another member's credit: dead-lettered, the rest of the run kept
        reversed_(busy, f"{p}-f3"),
    ]
    for system in pair:
        await system.deliver(*registrations)
    set_based.statements.clear()
    await set_based.deliver(*scripted)
    await deliver_in_random_batches(set_based, rnd, stream)
    sent = len(set_based.statements)
    reference.statements.clear()
    await reference.deliver_one_by_one(*scripted, *stream)

    expected = await full_state(reference)
    actual = await full_state(set_based)
    for name in FULL_STATE:
        assert actual[name] == expected[name], f"{name} differs from the one-by-one path (seed {seed})"
    assert set_based.domain_metrics() == reference.domain_metrics()

    # The stream covers what it claims to (on both paths, since they agree).
    async with reference.pool.acquire() as conn:
        reasons = {r["reason"] or r["outcome"] for r in await conn.fetch("SELECT outcome, reason FROM inbox")}
        kinds = {r["kind"] for r in await conn.fetch("SELECT kind FROM transfers WHERE member_id LIKE $1", f"{p}%")}
        causes = {
            r["cause"]
            for r in await conn.fetch(
                """SELECT convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'cause' AS cause FROM outbox
                   WHERE key LIKE $1 AND convert_from(value, 'UTF8')::jsonb ->> 'type' = 'member.level_changed'""",
                f"{p}%".encode(),
            )
        }
    mine = {r for r in reasons if r}
    for reason in ("already reversed", "already credited", "reversal_member_mismatch", "member_deactivated"):
        assert reason in mine, f"seed {seed} never gives {reason!r}"
    assert any(r.startswith("nothing was credited for report") for r in mine), f"seed {seed}: no reversal of nothing"
    assert {"report", "rating", "volunteer", "reversal"} <= kinds
    assert {"earned", "reversed"} <= causes, f"seed {seed}: levels moved by {causes}"
    assert any(c[1].startswith(p) for c in expected["cuts"]), f"seed {seed}: the daily cap never cut"
    assert sent * 3 < len(reference.statements), (sent, len(reference.statements))
