"""Random histories through the real points consumer and database, against a reference model.

Hypothesis draws what happens to a few riders (registrations, verified reports, ratings,
volunteering, reversals, holds placed, captured, released and expired); every event is then
delivered one to three times, in a shuffled order, in batches of random sizes, through the same
EventConsumer and use cases the service runs. Afterwards every balance and hold must equal what a
simple sequential model computes from the same deliveries, and the whole audit must pass.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import pytest_asyncio
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.engine import EventConsumer
from incentives_kernel.envelope import encode_event
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.health import Health
from incentives_kernel.metrics import KernelMetrics
from incentives_kernel.uow import source_of, units_of_work
from incentives_ops.audit import audit, render
from points import holds, policy, subscribers
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
CATEGORIES = list(policy.REPORT_POINTS)


@dataclass
class System:
    pool: asyncpg.Pool
    consumer: EventConsumer
    deps: Deps
    dsn: str
    offsets: itertools.count = field(default_factory=itertools.count)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(infra: Infra) -> AsyncIterator[System]:
    async with scratch_database(infra.admin_dsn, "model") as dsn:
        system = await _system(dsn)
        yield system
        await system.pool.close()


async def _system(dsn: str) -> System:
    pool = await make_pool(dsn, "points", min_size=1, max_size=4, application_name="model-test")
    async with pool.acquire() as conn:
        for service in ("reports", "points", "rewards", "notify"):  # the audit reads every schema
            await migrate(conn, service, load_migrations(migrations_dir(service)))
        await conn.execute("SET search_path TO points")
    registry = CollectorRegistry()
    deps = Deps(PointsMetrics(registry), "Asia/Shanghai")
    consumer = EventConsumer(
        service="points",
        pool=lambda: pool,
        metrics=KernelMetrics("points", registry),
        health=Health(),
        use_cases=subscribers.use_cases(deps),
        types=ALL_TYPES,
        ignore_types=subscribers.IGNORED,
    )
    return System(pool, consumer, deps, dsn)


# ------------------------------------------------------------------------------------------ the model


@dataclass
class Model:
    """What should happen, computed sequentially from the deliveries (the inbox: an event id counts once)."""

    registered: set[str] = field(default_factory=set)
    parked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    balance: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    earned_today: dict[str, int] = field(default_factory=dict)
    credited: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> (member, amount)
    reversed: set[tuple[str, str]] = field(default_factory=set)
    holds: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # id -> (member, amount, status)

    def deliver(self, event: dict[str, Any]) -> None:
        if event["id"] in self.seen:
            return
        self.seen.add(event["id"])
        self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        data, kind = event["data"], event["type"]
        member = data.get("member_id")
        if kind == "member.registered":
            self.registered.add(member)
            self.balance.setdefault(member, 0)
            self.held.setdefault(member, 0)
            for waiting in self.parked.pop(member, []):
                self.apply(waiting)
            return
        hold = self.holds.get(data.get("hold_id", ""))
        if kind in ("points.capture_hold", "points.release_hold") and (hold is None or hold[0] != member):
            return  # refused: no such hold
        if member not in self.registered:
            self.parked.setdefault(member, []).append(event)
            return
        if kind == "report.verified":
            self.earn(member, "report", data["report_id"], policy.report_points(data["category"]))
        elif kind == "report.rating_recorded":
            self.earn(member, "rating", data["report_id"], 1)
        elif kind == "volunteer.attendance_confirmed":
            self.earn(member, "volunteer", data["attendance_id"], policy.volunteer_points(data["hours"]))
        elif kind == "report.verification_reversed":
            self.reverse(member, "report", data["report_id"])
        elif kind == "volunteer.attendance_revoked":
            self.reverse(member, "volunteer", data["attendance_id"])
        elif kind == "points.place_hold":
            if data["hold_id"] not in self.holds and data["amount"] <= self.balance[member] - self.held[member]:
                self.holds[data["hold_id"]] = (member, data["amount"], "pending")
                self.held[member] += data["amount"]
        elif kind in ("points.capture_hold", "points.release_hold") and hold and hold[2] == "pending":
            self.held[member] -= hold[1]
            if kind == "points.capture_hold":
                self.balance[member] -= hold[1]
            self.holds[data["hold_id"]] = (member, hold[1], "captured" if kind.endswith("capture_hold") else "released")

    def earn(self, member: str, kind: str, ref: str, amount: int) -> None:
        if (kind, ref) in self.credited or amount == 0:
            return
        if kind in policy.CAPPED_KINDS:
            amount = policy.apply_daily_cap(kind, amount, self.earned_today.get(member, 0)).credited
            self.earned_today[member] = self.earned_today.get(member, 0) + amount
        self.credited[(kind, ref)] = (member, amount)
        self.balance[member] += amount

    def reverse(self, member: str, kind: str, ref: str) -> None:
        earner, amount = self.credited.get((kind, ref), ("", 0))
        if amount and earner == member and (kind, ref) not in self.reversed:  # another's credit: dead-lettered
            self.reversed.add((kind, ref))
            self.balance[member] -= amount

    def expire_all(self) -> None:
        for hold_id, (member, amount, status) in list(self.holds.items()):
            if status == "pending":
                self.held[member] -= amount
                self.holds[hold_id] = (member, amount, "expired")


# ------------------------------------------------------------------------------------------ histories


def event(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    eid = uuid.uuid4().hex
    return {"specversion": "1.0", "id": eid, "source": "/model", "type": type_, "time": EARLY, "data": data}


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    prefix = uuid.uuid4().hex[:8]
    members = [f"{prefix}-m{i}" for i in range(draw(st.integers(1, 3)))]
    # What earns or holds is drawn from the member's own ids, what reverses, captures or releases from
    # everyone's. Kafka orders records only per key (the member), and the engine keeps exactly that: events
    # released by a registration run before that member's next record, not before other members' records.
    # Two members claiming one report would make "who claimed first" depend on cross-key order, which no
    # consumer of a partitioned topic can promise, so the model would be stricter than the contract.
    own = {who: [f"{who}-{n}" for n in range(2)] for who in members}
    reports = {who: [f"{r}-r" for r in ids] for who, ids in own.items()}
    attendances = {who: [f"{r}-a" for r in ids] for who, ids in own.items()}
    hold_ids = {who: [f"{r}-h{i}" for r in ids for i in range(2)] for who, ids in own.items()}
    anyone = {
        name: [x for ids in by_member.values() for x in ids]
        for name, by_member in (("reports", reports), ("attendances", attendances), ("hold_ids", hold_ids))
    }
    ops = [
        event(
            "member.registered",
            {
                "member_id": m,
                "name": "x",
                "phone": "000",
                "occupation": "courier",
                "district": "nanqu",
                "registered_at": EARLY,
            },
        )
        for m in members
    ]
    m = st.sampled_from(members)
    for _ in range(draw(st.integers(0, 25))):
        choice = draw(st.integers(0, 7))
        who = draw(m)
        if choice == 0:
            ops.append(
                event(
                    "report.verified",
                    {
                        "report_id": draw(st.sampled_from(reports[who])),
                        "member_id": who,
                        "category": draw(st.sampled_from(CATEGORIES)),
                        "district": "nanqu",
                        "status": "accepted",
                        "verified_at": EARLY,
                    },
                )
            )
        elif choice == 1:
            ops.append(
                event(
                    "report.rating_recorded",
                    {
                        "report_id": draw(st.sampled_from(reports[who])),
                        "member_id": who,
                        "rating": 5,
                        "rated_at": EARLY,
                    },
                )
            )
        elif choice == 2:
            ops.append(
                event(
                    "volunteer.attendance_confirmed",
                    {
                        "attendance_id": draw(st.sampled_from(attendances[who])),
                        "activity_id": "act",
                        "activity_title": "t",
                        "member_id": who,
                        "hours": draw(st.sampled_from([0.4, 1, 2.7, 5])),
                        "organizer": "o",
                        "started_at": EARLY,
                        "ended_at": EARLY,
                    },
                )
            )
        elif choice == 3:
            ops.append(
                event(
                    "report.verification_reversed",
                    {
                        "report_id": draw(st.sampled_from(anyone["reports"])),
                        "member_id": who,
                        "reason": "fraudulent",
                        "reversed_at": EARLY,
                    },
                )
            )
        elif choice == 4:
            ops.append(
                event(
                    "volunteer.attendance_revoked",
                    {
                        "attendance_id": draw(st.sampled_from(anyone["attendances"])),
                        "member_id": who,
                        "reason": "no-show",
                    },
                )
            )
        else:
            kind = {5: "place_hold", 6: "capture_hold", 7: "release_hold"}[choice]
            ids = hold_ids[who] if kind == "place_hold" else anyone["hold_ids"]
            data: dict[str, Any] = {"hold_id": draw(st.sampled_from(ids)), "member_id": who}
            if kind == "place_hold":
                data.update(amount=draw(st.integers(1, 40)), reason="redeem")
            if kind == "release_hold":
                data["reason"] = "cancelled"
            ops.append(event(f"points.{kind}", data))
    # Every event one to three times, all shuffled (reorders across topics and partitions).
    deliveries = [op for op in ops for _ in range(draw(st.integers(1, 3)))]
    return draw(st.permutations(deliveries))


def record(system: System, value: dict[str, Any]) -> ConsumerRecord[bytes, bytes]:
    key = value["data"].get("member_id", "").encode()
    return ConsumerRecord("model.v1", 0, next(system.offsets), 0, 0, key, encode_event(value), None, len(key), 0, [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(), cut_points=st.lists(st.integers(1, 8), min_size=1, max_size=20))
async def test_random_histories_match_the_reference_model(
    system: System, history: list[dict[str, Any]], cut_points: list[int]
) -> None:
    model = Model()
    for delivered in history:
        model.deliver(delivered)
    records = [record(system, e) for e in history]
    sizes = itertools.cycle(cut_points)
    while records:  # in batches of random sizes, one transaction each, as the subscriber does
        size = next(sizes)
        await system.consumer.handle_batch(records[:size])
        records = records[size:]

    # Time passes: every pending hold expires, by the service's own sweep.
    async with system.pool.acquire() as conn:
        members = sorted(model.balance)
        await conn.execute(
            "UPDATE holds SET expires_at = now() - interval '1 second' WHERE member_id = ANY($1)", members
        )
        await holds.expire_due(units_of_work(system.pool, source_of("points")), system.deps)
        model.expire_all()
        rows = {
            r["member_id"]: r
            for r in await conn.fetch(
                "SELECT member_id, credits - debits AS balance, held FROM member_balances WHERE member_id = ANY($1)",
                members,
            )
        }
        statuses = {
            r["hold_id"]: r["status"]
            for r in await conn.fetch("SELECT hold_id, status FROM holds WHERE member_id = ANY($1)", members)
        }
    for member in members:
        row = rows.get(member)
        assert (row["balance"] if row else 0, row["held"] if row else 0) == (model.balance[member], 0), member
    assert statuses == {h: s for h, (_, _, s) in model.holds.items()}
    results = await audit(system.dsn)
    assert all(c.ok for c in results), render(results)
