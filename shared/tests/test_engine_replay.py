"""The engine's use of the authenticated replay marker: only the intake's verdict makes a record a
replay, and only a replay of this service's own dead letter reopens its inbox row (issue 15, item 5).

On the fakes of test_engine.py; tests/security/test_attack_dlq_replay.py plays the same on a stack.
"""

from __future__ import annotations

import time

from incentives_kernel import replay
from incentives_kernel.engine import EventConsumer
from incentives_kernel.health import Health
from incentives_kernel.intake import Intake, SourcePolicy
from incentives_kernel.metrics import KernelMetrics
from prometheus_client import CollectorRegistry

from shared.tests.test_engine import TOPIC, TYPES, FakeConn, FakePool, Record, Records, World, fake_books, outcomes

KEY = "k" * 40
POLICY = SourcePolicy.from_mapping({"topics": {TOPIC: {"*": ["/test"]}}})


def checked(world: World, *, service: str = "test", key: str = KEY) -> EventConsumer:
    """A consumer whose intake checks markers with `key` (the policy admits /test)."""
    return EventConsumer(
        service=service,
        pool=lambda: FakePool(world.conn),
        metrics=KernelMetrics(service, CollectorRegistry()),
        health=Health(),
        use_cases={"test.registered": world.register, "test.credited": world.credit},
        types=TYPES,
        books=fake_books(),
        intake=Intake(POLICY, replay_key=key, service=service),
    )


def marked(record: Record, *, service: str, key: str = KEY) -> Record:
    headers = replay.mark(
        key, service=service, topic=TOPIC, replayed_from=f"{TOPIC}.dlq/0/0", ts=int(time.time()), value=record.value
    )
    return record._replace(headers=tuple(headers))


async def dead_credit(world: World, c: EventConsumer, make: Records) -> Record:
    """A credit the consumer dead-letters (its member unknown to it: the fake parks, so -1 refuses)."""
    await c.handle_batch([make("test.registered", "a")])
    credit = make("test.credited", "a", -1, event_id="dead")
    await c.handle_batch([credit])
    assert outcomes(world)["dead"] == ("dead_lettered", "negative_amount")
    assert world.conn.calls.count("keep_dead_letter") == 1  # kept for the operator APIs, with its DLQ row
    return credit


async def test_a_genuine_replay_of_this_services_dead_letter_reopens_it() -> None:
    make, world = Records(), World(FakeConn())
    c = checked(world)
    credit = await dead_credit(world, c, make)
    world.conn.state.members.add("a")
    fixed = credit._replace(value=credit.value.replace(b'"amount":-1', b'"amount":4'))
    assert fixed.value != credit.value
    await c.handle_batch([marked(fixed, service="test")])
    assert outcomes(world)["dead"] == ("applied", None)
    assert world.conn.state.balance == {"a": 4}


async def test_a_genuine_marker_for_another_service_reopens_nothing() -> None:
    make, world = Records(), World(FakeConn())
    c = checked(world)
    credit = await dead_credit(world, c, make)
    fixed = credit._replace(value=credit.value.replace(b'"amount":-1', b'"amount":4'))
    calls = len(world.conn.calls)
    await c.handle_batch([marked(fixed, service="reports")])  # genuine, but reports' dead letter
    assert outcomes(world)["dead"] == ("dead_lettered", "negative_amount")  # a duplicate for this service
    assert world.conn.state.balance == {}
    assert "claim_many" in world.conn.calls[calls:]  # and it took the whole-batch path like any record


async def test_a_marker_the_intake_did_not_authenticate_is_dead_lettered_before_any_claim() -> None:
    make, world = Records(), World(FakeConn())
    c = checked(world)
    credit = await dead_credit(world, c, make)
    fixed = credit._replace(value=credit.value.replace(b'"amount":-1', b'"amount":4'))
    await c.handle_batch([marked(fixed, service="test", key="x" * 40)])  # another key: forged
    assert outcomes(world)["dead"] == ("dead_lettered", "negative_amount")
    forged = [k for k, v in outcomes(world).items() if v == ("dead_lettered", "bad_replay_marker")]
    assert len(forged) == 1 and forged[0] != "dead"  # claimed by its Kafka position, not the event's id
    assert world.conn.state.balance == {}


async def test_without_an_intake_marker_headers_mean_nothing() -> None:
    make, world = Records(), World(FakeConn())
    c = EventConsumer(
        service="test",
        pool=lambda: FakePool(world.conn),
        metrics=KernelMetrics("test", CollectorRegistry()),
        health=Health(),
        use_cases={"test.registered": world.register, "test.credited": world.credit},
        types=TYPES,
        books=fake_books(),
    )
    credit = await dead_credit(world, c, make)
    fixed = credit._replace(value=credit.value.replace(b'"amount":-1', b'"amount":4'))
    await c.handle_batch([fixed._replace(headers=((replay.FROM_HEADER, b"x.dlq/0/0"),))])
    assert outcomes(world)["dead"] == ("dead_lettered", "negative_amount")
