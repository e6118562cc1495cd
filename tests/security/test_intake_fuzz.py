"""Hostile input against the event intake of a real service (points) on a real PostgreSQL.

Generated records: valid-looking CloudEvents with fuzzed fields (wrong types, unknown enums,
control characters, huge strings, personal data, foreign sources), bare junk, over-size values.
Each goes through `EventConsumer.handle_batch` as the subscriber would. Whatever it is: no crash
(no exception, no retry loop), exactly one outcome in the inbox (or a duplicate of an event already
there), and a dead-lettered record leaves no trace in the service's own tables.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from incentives_kernel import topics
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.engine import EventConsumer
from incentives_kernel.envelope import MAX_EVENT_BYTES, encode_event
from incentives_kernel.events import ALL_TYPES
from incentives_kernel.health import Health
from incentives_kernel.intake import Intake, SourcePolicy
from incentives_kernel.metrics import KernelMetrics
from points import subscribers
from points.metrics import PointsMetrics
from points.usecases import Deps
from prometheus_client import CollectorRegistry

from tests.conftest import Infra
from tests.support import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

# The points service's own state: a dead letter must change none of it.
STATE_TABLES = ("members", "transfers", "member_balances", "holds", "parked_events")


@dataclass
class System:
    pool: asyncpg.Pool
    consumer: EventConsumer
    offsets: itertools.count = field(default_factory=itertools.count)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(infra: Infra) -> AsyncIterator[System]:
    async with scratch_database(infra.admin_dsn, "fuzz") as dsn:
        pool = await make_pool(dsn, "points", min_size=1, max_size=2, application_name="fuzz-test")
        async with pool.acquire() as conn:
            await migrate(conn, "points", load_migrations(migrations_dir("points")))
        registry = CollectorRegistry()
        consumer = EventConsumer(
            service="points",
            pool=lambda: pool,
            metrics=KernelMetrics("points", registry),
            health=Health(),
            use_cases=subscribers.use_cases(Deps(PointsMetrics(registry), "Asia/Shanghai")),
            types=ALL_TYPES,
            ignore_types=subscribers.IGNORED,
            intake=Intake(SourcePolicy.load()),
            unexpected_attempts=1,  # a use case that blows up is a finding, not something to retry here
        )
        yield System(pool, consumer)
        await pool.close()


# ------------------------------------------------------------------------------------------ strategies

NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\u202e\u200b",
        "'; DROP TABLE transfers; --",
        "13812345678",
        "110101199003071234",
        "../../etc/passwd",
        "x" * 70,
        "界" * 3000,
        "1e309",
        "NaN",
    ]
)
TEXT = st.text(max_size=80) | NASTY
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
MEMBER = st.sampled_from(["m-1", "m-2", "m-3"]) | st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
TIME = st.sampled_from(["2026-11-21T08:30:00+08:00", "2026-11-21T08:30:00Z"])


def _samples(member: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """type -> (topic, allowed source, valid data) for what points consumes."""
    return {
        "member.registered": (
            topics.MEMBERS,
            "/member-registry",
            {
                "member_id": member,
                "name": "张三",
                "phone": "13812345678",
                "occupation": "courier",
                "district": "nanqu",
                "registered_at": "2026-11-21T08:00:00+08:00",
            },
        ),
        "member.deactivated": (topics.MEMBERS, "/district/nanqu/rider-app", {"member_id": member, "reason": "left"}),
        "volunteer.attendance_confirmed": (
            topics.VOLUNTEER,
            "/volunteer-platform",
            {
                "attendance_id": f"a-{member}",
                "activity_id": "act-1",
                "activity_title": "消防宣传",
                "member_id": member,
                "hours": 2.5,
                "organizer": "协会",
                "started_at": "2026-11-21T09:00:00+08:00",
                "ended_at": "2026-11-21T11:30:00+08:00",
            },
        ),
        "volunteer.attendance_revoked": (
            topics.VOLUNTEER,
            "/volunteer-platform",
            {"attendance_id": f"a-{member}", "member_id": member, "reason": "no-show"},
        ),
        "points.place_hold": (
            topics.POINTS_COMMANDS,
            "/incentives/rewards",
            {"hold_id": f"h-{uuid.uuid4().hex[:8]}", "member_id": member, "amount": 5, "reason": "redemption"},
        ),
    }


@st.composite
def records(draw: st.DrawFn) -> tuple[str, bytes]:
    """(topic, record value)."""
    kind = draw(st.sampled_from(["fuzzed", "fuzzed", "fuzzed", "valid", "junk_json", "bytes", "huge"]))
    if kind == "bytes":
        return draw(st.sampled_from([topics.MEMBERS, topics.VOLUNTEER])), draw(st.binary(max_size=200))
    if kind == "huge":
        return topics.MEMBERS, b'{"specversion":"1.0","data":"' + b"x" * MAX_EVENT_BYTES + b'"}'
    if kind == "junk_json":
        return topics.VOLUNTEER, json.dumps(draw(JUNK), ensure_ascii=False).encode()
    type_ = draw(st.sampled_from(sorted(_samples("m").keys())))
    topic, source, data = _samples(draw(MEMBER))[type_]
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": draw(TIME),
        "datacontenttype": "application/json",
        "data": dict(data),
    }
    if kind == "fuzzed":
        for key in draw(st.lists(st.sampled_from(sorted(data)), max_size=3, unique=True)):
            event["data"][key] = draw(JUNK | TEXT)  # wrong types, unknown enums, control chars, huge strings
        for key in draw(st.lists(st.sampled_from(sorted(data)), max_size=1)):
            event["data"].pop(key, None)
        for attr in draw(st.lists(st.sampled_from(["id", "source", "type", "time", "specversion"]), max_size=2)):
            event[attr] = draw(JUNK | TEXT | st.sampled_from(["/evil", "/district/nanqu/dispatch"]))
        if draw(st.booleans()):
            topic = draw(st.sampled_from([topics.MEMBERS, topics.VOLUNTEER, topics.POINTS_COMMANDS]))
    return topic, encode_event(event)


# ------------------------------------------------------------------------------------------ the property


async def _state(conn: asyncpg.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in STATE_TABLES}
    out["balances"] = await conn.fetchval("SELECT coalesce(sum(credits - debits), 0) FROM member_balances")
    out["outbox"] = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic NOT LIKE '%.dlq'")
    return out


def _identity(value: bytes) -> tuple[str, str] | None:
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not (isinstance(doc, dict) and isinstance(doc.get("source"), str) and isinstance(doc.get("id"), str)):
        return None
    # An identity with NUL is refused by the envelope, and PostgreSQL could not even look it up.
    return None if "\x00" in doc["source"] + doc["id"] else (doc["source"], doc["id"])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=records())
async def test_any_record_gets_exactly_one_outcome_and_a_rejected_one_no_effect(
    system: System, record: tuple[str, bytes]
) -> None:
    topic, value = record
    offset = next(system.offsets)
    async with system.pool.acquire() as conn:
        before = await _state(conn)
        identity = _identity(value)
        seen_before = identity is not None and await conn.fetchval(
            "SELECT 1 FROM inbox WHERE consumer = 'points' AND source = $1 AND event_id = $2", *identity
        )
    consumer_record = ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), [])
    await system.consumer.handle_batch([consumer_record])  # raises on a crash or a retry
    async with system.pool.acquire() as conn:
        outcomes = await conn.fetch(
            "SELECT outcome, reason FROM inbox WHERE topic = $1 AND kafka_partition = 0 AND kafka_offset = $2",
            topic,
            offset,
        )
        after = await _state(conn)
    if seen_before and not outcomes:
        return  # a redelivery of an event already handled: skipped, as it must be
    assert len(outcomes) == 1, outcomes
    outcome = outcomes[0]
    dead = outcome["outcome"] == "dead_lettered"
    event(f"{outcome['outcome']} {outcome['reason']}" if dead else outcome["outcome"])  # --hypothesis-show-statistics
    assert outcome["outcome"] in ("applied", "ignored", "parked", "dead_lettered")
    assert outcome["reason"] != "unexpected_error", "a use case failed on input the intake should have refused"
    if outcome["outcome"] == "dead_lettered":
        assert after == before, f"dead-lettered ({outcome['reason']}) but the service's state changed"
