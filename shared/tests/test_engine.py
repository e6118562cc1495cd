"""The consumer's engine and the unit of work, on a fake connection and fake records (no database, no broker).

The fake connection keeps the engine's books (inbox, parked events, outbox rows) in memory and
honours transactions and savepoints: a block that raises restores what it found. The use cases are
small fakes written against the unit of work, as services write theirs. tests/integration/
test_batch_credits.py proves the same properties with the points service on a real PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import namedtuple
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from incentives_kernel import inbox, outbox, parking
from incentives_kernel.engine import Books, EventConsumer, TransientFailure
from incentives_kernel.envelope import encode_event
from incentives_kernel.health import Health
from incentives_kernel.metrics import KernelMetrics
from incentives_kernel.outcome import (
    Batchable,
    OneByOne,
    Outcome,
    Park,
    ParsedEvent,
    PermanentError,
    UnitOfWork,
    applied,
    ignored,
    parked,
)
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

TOPIC = "test.v1"


# ------------------------------------------------------------------------------------------ fakes


@dataclass
class State:
    inbox: dict[inbox.InboxKey, tuple[str, str | None]] = field(default_factory=dict)
    parked: list[parking.ParkedEvent] = field(default_factory=list)
    outbox: list[outbox.Row] = field(default_factory=list)
    members: set[str] = field(default_factory=set)
    balance: dict[str, int] = field(default_factory=dict)


class FakeConn:
    """A connection whose transactions and savepoints restore `state` when their block raises."""

    def __init__(self) -> None:
        self.state = State()
        self.calls: list[str] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        saved = copy.deepcopy(self.state)
        try:
            yield
        except BaseException:
            self.state = saved
            raise


class FakePool:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConn]:
        yield self.conn


def fake_books() -> Books:
    async def claim(conn: Any, key: inbox.InboxKey, _type: Any, _pos: Any, *, retry_dead: bool = False) -> bool:
        conn.calls.append("claim")
        found = conn.state.inbox.get(key)
        if found is not None and not (retry_dead and found[0] == "dead_lettered"):
            return False
        conn.state.inbox[key] = ("applied", None)
        return True

    async def claim_many(conn: Any, claims: Sequence[tuple[inbox.InboxKey, Any, Any]]) -> set[inbox.InboxKey]:
        conn.calls.append("claim_many")
        new = set()
        for key, _, _ in claims:
            if key not in conn.state.inbox:
                conn.state.inbox[key] = ("applied", None)
                new.add(key)
        return new

    async def set_outcome(conn: Any, key: inbox.InboxKey, outcome: str, reason: str | None) -> None:
        conn.calls.append("set_outcome")
        conn.state.inbox[key] = (outcome, reason)

    async def set_outcomes(conn: Any, marks: Sequence[tuple[inbox.InboxKey, str, str | None]]) -> None:
        conn.calls.append("set_outcomes")
        for key, outcome, reason in marks:
            conn.state.inbox[key] = (outcome, reason)

    async def park_many(conn: Any, events: Sequence[parking.ParkedEvent]) -> None:
        conn.calls.append("park_many")
        conn.state.parked += events

    async def take_parked(conn: Any, _consumer: str, awaiting: Sequence[str]) -> list[parking.ParkedEvent]:
        conn.calls.append("take_parked")
        taken = [p for key in dict.fromkeys(awaiting) for p in conn.state.parked if p.awaiting == key]
        conn.state.parked = [p for p in conn.state.parked if p.awaiting not in awaiting]
        return taken

    async def take_expired(conn: Any, _consumer: str, _grace: timedelta) -> list[parking.ParkedEvent]:
        taken, conn.state.parked = conn.state.parked, []
        return list(taken)

    async def count_parked(conn: Any, _consumer: str) -> int:
        return len(conn.state.parked)

    async def keep_dead_letter(conn: Any, dead: Any) -> None:
        conn.calls.append("keep_dead_letter")

    async def write_outbox(conn: Any, rows: Sequence[outbox.Row]) -> None:
        conn.calls.append("write_outbox")
        conn.state.outbox += rows

    return Books(
        claim=claim,
        claim_many=claim_many,
        set_outcome=set_outcome,
        set_outcomes=set_outcomes,
        park_many=park_many,
        take_parked=take_parked,
        take_expired=take_expired,
        count_parked=count_parked,
        write_outbox=write_outbox,
        keep_dead_letter=keep_dead_letter,
    )


# A fake consumed record: what the engine reads of aiokafka's ConsumerRecord.
Record = namedtuple("Record", "topic partition offset key value headers", defaults=((),))


class Registered(BaseModel):
    member_id: str


class Credited(BaseModel):
    member_id: str
    amount: int


TYPES: dict[str, type[BaseModel]] = {"test.registered": Registered, "test.credited": Credited}


@dataclass
class World:
    """The fake use cases and what they did; `counted`: after-commit callbacks that ran."""

    conn: FakeConn
    counted: list[str] = field(default_factory=list)
    woken: int = 0
    fail_many: bool = False

    async def register(self, uow: UnitOfWork, event: ParsedEvent) -> Outcome:
        data = event.data
        assert isinstance(data, Registered)
        self.conn.state.members.add(data.member_id)
        return applied(f"member:{data.member_id}")

    def _refusal(self, data: Credited) -> Exception | None:
        if data.member_id not in self.conn.state.members:
            return Park(f"member:{data.member_id}", "not registered yet")
        if data.amount < 0:
            return PermanentError("negative_amount", "a credit is never negative")
        if data.amount == 13:
            return RuntimeError("a bug")
        return None

    def _credit(self, uow: UnitOfWork, event: ParsedEvent, data: Credited) -> Outcome:
        if data.amount == 0:
            return ignored("nothing to credit")
        state = self.conn.state
        state.balance[data.member_id] = state.balance.get(data.member_id, 0) + data.amount
        uow.emit(
            "points.credited",
            data.member_id,
            data.member_id,
            data,
            id_from=(event.envelope.id,),
            time=event.envelope.time,
        )
        uow.after_commit(lambda: self.counted.append(event.envelope.id))
        return applied()

    async def credit(self, uow: UnitOfWork, event: ParsedEvent) -> Outcome:
        data = event.data
        assert isinstance(data, Credited)
        refusal = self._refusal(data)
        if refusal is not None:
            # An effect before the refusal: the savepoint must undo it, with its event and callback.
            uow.emit("points.capped", data.member_id, data.member_id, data, id_from=("before", event.envelope.id))
            uow.after_commit(lambda: self.counted.append("before:" + event.envelope.id))
            raise refusal
        return self._credit(uow, event, data)

    async def credit_many(self, uow: UnitOfWork, events: Sequence[ParsedEvent]) -> list[Outcome]:
        if self.fail_many:
            raise RuntimeError("a bug in many only")
        outcomes = []
        for event in events:
            data = event.data
            assert isinstance(data, Credited)
            refusal = self._refusal(data)
            if isinstance(refusal, Park):
                outcomes.append(parked(refusal.awaiting, refusal.reason))
            elif refusal is not None:
                raise OneByOne("one would refuse")
            else:
                outcomes.append(self._credit(uow, event, data))
        return outcomes

    def wake(self) -> None:
        self.woken += 1


def consumer(world: World, *, batchable: bool = True) -> EventConsumer:
    credit = Batchable(world.credit, world.credit_many) if batchable else world.credit
    return EventConsumer(
        service="test",
        pool=lambda: FakePool(world.conn),
        metrics=KernelMetrics("test", CollectorRegistry()),
        health=Health(),
        use_cases={"test.registered": world.register, "test.credited": credit},
        types=TYPES,
        wake=world.wake,
        books=fake_books(),
    )


class Records:
    def __init__(self) -> None:
        self.offset = 0

    def __call__(self, type_: str, member: str, amount: int = 0, event_id: str | None = None) -> Record:
        self.offset += 1
        data: dict[str, Any] = {"member_id": member} | ({"amount": amount} if type_ == "test.credited" else {})
        event = {
            "specversion": "1.0",
            "id": event_id or f"e{self.offset}",
            "source": "/test",
            "type": type_,
            "time": "2026-11-21T08:30:00+08:00",
            "data": data,
        }
        return Record(TOPIC, 0, self.offset, member.encode(), encode_event(event))

    def raw(self, value: bytes) -> Record:
        self.offset += 1
        return Record(TOPIC, 0, self.offset, b"k", value)


def outcomes(world: World) -> dict[str, tuple[str, str | None]]:
    return {k.event_id: v for k, v in world.conn.state.inbox.items()}


def emitted(world: World) -> list[tuple[str, str]]:
    """(topic, type) of every outbox row, in order."""
    found = []
    for row in world.conn.state.outbox:
        kind = json.loads(row.value)["type"] if row.value else "(no value)"
        found.append((row.topic, kind))
    return found


# ------------------------------------------------------------------------------------------ the engine


async def test_a_clean_batch_goes_whole_and_ends_as_one_by_one_does() -> None:
    make = Records()
    batch = [
        make("test.registered", "a"),
        make("test.credited", "a", 5),
        make("test.credited", "a", 0),
        make("test.credited", "a", 7, event_id="e3"),  # the same event id as the one before: one counts
        make("test.registered", "b"),
        make("test.credited", "b", 2),
    ]
    whole, single = World(FakeConn()), World(FakeConn())
    await consumer(whole).handle_batch(batch)
    await consumer(single, batchable=False).handle_batch(batch)  # not Batchable: the same result, event by event

    assert whole.conn.calls.count("claim_many") == 1 and "claim" not in whole.conn.calls
    assert whole.conn.calls.count("write_outbox") == 1  # every event of the batch in one round trip
    assert "set_outcome" not in whole.conn.calls  # inbox outcomes batched too
    for w in (whole, single):
        assert w.conn.state.balance == {"a": 5, "b": 2}
        assert outcomes(w)["e3"] == ("ignored", "nothing to credit")
        assert w.counted == ["e2", "e6"]
    assert whole.conn.state.outbox == single.conn.state.outbox
    assert whole.conn.state.inbox == single.conn.state.inbox
    assert whole.woken == single.woken == 1


async def test_a_refused_event_is_dead_lettered_alone_and_leaves_no_event_or_callback_of_its_own() -> None:
    make = Records()
    world = World(FakeConn())
    batch = [make("test.registered", "a"), make("test.credited", "a", 5), make("test.credited", "a", -1)]
    await consumer(world).handle_batch(batch)

    assert "claim" not in world.conn.calls  # the batch stayed whole: the run was halved to the refusing event
    assert world.conn.state.balance == {"a": 5}
    assert outcomes(world)["e3"] == ("dead_lettered", "negative_amount")
    assert world.counted == ["e2"]  # the refused event's callback was discarded with its savepoint
    # e2's event, then e3 dead-lettered as it came (its own "before" event discarded with its savepoint).
    assert emitted(world) == [("incentives.points.v1", "points.credited"), (TOPIC + ".dlq", "test.credited")]


async def test_a_parked_event_waits_and_runs_when_released_in_the_same_batch() -> None:
    make = Records()
    for batchable in (True, False):
        world = World(FakeConn())
        await consumer(world, batchable=batchable).handle_batch(
            [make("test.credited", "late", 4), make("test.registered", "late")]
        )
        state = world.conn.state
        assert state.balance == {"late": 4}
        assert state.parked == []
        credit_id = f"e{make.offset - 1}"
        assert outcomes(world)[credit_id] == ("applied", None)  # replayed: its outcome is written again


async def test_an_event_parked_across_batches_is_released_by_a_later_batch() -> None:
    make = Records()
    world = World(FakeConn())
    c = consumer(world)
    await c.handle_batch([make("test.credited", "m", 3)])
    assert outcomes(world)["e1"] == ("parked", "not registered yet")
    assert world.woken == 0  # nothing was emitted: nothing to wake the relay for
    await c.handle_batch([make("test.registered", "m")])
    assert world.conn.state.balance == {"m": 3}
    assert outcomes(world)["e1"] == ("applied", None)
    assert world.woken == 1


async def test_what_a_batch_releases_is_taken_in_one_statement_and_keeps_per_key_order() -> None:
    make = Records()
    world = World(FakeConn())
    c = consumer(world)
    await c.handle_batch([make("test.credited", m, amount) for m, amount in (("a", 1), ("b", 2), ("c", 3), ("d", 4))])
    assert len(world.conn.state.parked) == 4
    world.conn.calls.clear()
    # a, b and d release theirs together; "a" credited again before d's registration: a's parked
    # credit must come first, so the releases are taken just before it, the rest at the end.
    regs = [make("test.registered", "a"), make("test.registered", "b")]
    await c.handle_batch([*regs, make("test.credited", "a", 10), make("test.registered", "d")])
    await c.handle_batch([make("test.registered", "c")])
    credited = [json.loads(r.value)["data"]["amount"] for r in world.conn.state.outbox]
    assert credited == [1, 2, 10, 4, 3]
    assert world.conn.state.balance == {"a": 11, "b": 2, "c": 3, "d": 4}
    assert world.conn.calls.count("take_parked") == 3  # before "a" and at the end, then c's batch
    assert "claim" not in world.conn.calls  # both went whole


async def test_a_released_event_whose_key_came_in_between_sends_the_batch_record_by_record() -> None:
    make = Records()
    world = World(FakeConn())
    c = consumer(world)
    await c.handle_batch([make("test.credited", "a", 1)])
    # The registration's key is "x", the parked credit's "a": a credit keyed "a" after it would run
    # before the released one if the release waited for the end of the batch.
    reg = make("test.registered", "a")
    await c.handle_batch([reg._replace(key=b"x"), make("test.credited", "a", 10)])
    assert [json.loads(r.value)["data"]["amount"] for r in world.conn.state.outbox] == [1, 10]
    assert "claim" in world.conn.calls  # redone record by record


async def test_bad_bytes_are_dead_lettered_and_the_batch_goes_on() -> None:
    make = Records()
    world = World(FakeConn())
    await consumer(world).handle_batch(
        [make.raw(b"{not json"), make("test.registered", "a"), make("test.credited", "a", 1)]
    )
    dead = [v for v in outcomes(world).values() if v[0] == "dead_lettered"]
    assert dead == [("dead_lettered", "invalid_json")]
    assert world.conn.state.balance == {"a": 1}


async def test_one_bad_record_costs_the_others_nothing_and_ends_as_one_by_one_does() -> None:
    """Issue 19's MIX: bad bytes and a refused credit in a run of 12 leave the other 11 set-based."""
    make = Records()
    amounts = [1, 2, 3, 4, 5, -1, 6, 7, 8, 9, 10, 11]
    batch = [make("test.registered", "a"), make.raw(b"{not json"), *[make("test.credited", "a", n) for n in amounts]]
    whole, single = World(FakeConn()), World(FakeConn())
    runs: list[int] = []
    many = whole.credit_many

    async def counted_many(uow: UnitOfWork, events: Sequence[ParsedEvent]) -> list[Outcome]:
        runs.append(len(events))
        return await many(uow, events)

    whole.credit_many = counted_many  # type: ignore[method-assign]
    await consumer(whole).handle_batch(batch)
    await consumer(single, batchable=False).handle_batch(batch)

    # Two set-based passes (the first rolled back at the refusal), nothing record by record: the only
    # single claims are the bad bytes' own inbox row, once a pass.
    assert whole.conn.calls.count("claim_many") == 2
    assert whole.conn.calls.count("claim") == 2
    # The first pass (no savepoint per run) stops at the refusal. The careful pass: the run of 12
    # refused, then halves down to the refusing credit (the sixth): its first half of 6
    # refused -> 3 (kept), 3 refused -> 1 (kept), 2 refused -> 1 (kept), 1 refused (dead-lettered by the
    # one-event use case); the second half of 6 kept at once.
    assert runs == [12, 12, 6, 3, 3, 1, 2, 1, 1, 6]
    for w in (whole, single):
        assert w.conn.state.balance == {"a": sum(n for n in amounts if n > 0)}
        dead = sorted(v[1] or "" for v in outcomes(w).values() if v[0] == "dead_lettered")
        assert dead == ["invalid_json", "negative_amount"]
    assert whole.conn.state.inbox == single.conn.state.inbox
    assert whole.counted == single.counted

    def per_topic(w: World) -> dict[str, list[bytes]]:
        found: dict[str, list[bytes]] = {}
        for row in w.conn.state.outbox:
            found.setdefault(row.topic, []).append(row.value)
        return found

    # The same rows; across topics the order may differ (Kafka orders nothing across topics either).
    assert per_topic(whole) == per_topic(single)


async def test_a_redelivered_batch_changes_nothing() -> None:
    make = Records()
    world = World(FakeConn())
    c = consumer(world)
    batch = [make("test.registered", "a"), make("test.credited", "a", 5)]
    await c.handle_batch(batch)
    before = copy.deepcopy(world.conn.state)
    await c.handle_batch(batch)
    assert world.conn.state == before
    assert world.counted == ["e2"]


async def test_an_unexpected_error_is_retried_then_dead_lettered_and_a_rolled_back_batch_counts_nothing() -> None:
    make = Records()
    world = World(FakeConn())
    c = consumer(world)
    await c.handle_batch([make("test.registered", "a")])
    woken = world.woken
    batch = [make("test.credited", "a", 2), make("test.credited", "a", 13)]
    for _ in range(2):
        with pytest.raises(TransientFailure):
            await c.handle_batch(batch)
        assert world.conn.state.balance == {} and world.counted == []  # rolled back, nothing counted
        assert world.woken == woken
    await c.handle_batch(batch)  # the third attempt dead-letters the record that keeps failing
    assert world.conn.state.balance == {"a": 2}
    assert outcomes(world)["e3"] == ("dead_lettered", "unexpected_error")
    assert world.woken == woken + 1


async def test_a_bug_in_many_only_falls_back_to_one() -> None:
    make = Records()
    world = World(FakeConn(), fail_many=True)
    await consumer(world).handle_batch([make("test.registered", "a"), make("test.credited", "a", 5)])
    assert world.conn.state.balance == {"a": 5}
    assert world.conn.calls.count("claim") == 2


async def test_expired_parked_events_are_dead_lettered_through_the_outbox() -> None:
    make = Records()
    world = World(FakeConn())
    c = consumer(world)
    await c.handle_batch([make("test.credited", "never", 1)])
    assert await c.expire_parked(timedelta(seconds=1)) == 1
    assert outcomes(world)["e1"] == ("dead_lettered", "parked_too_long")
    assert [r.topic for r in world.conn.state.outbox] == [TOPIC + ".dlq"]
    assert world.woken == 1


# ------------------------------------------------------------------------------------------ the unit of work


async def test_a_savepoint_that_rolls_back_discards_its_events_and_callbacks() -> None:
    conn = FakeConn()
    uow = UnitOfWork(conn, "/incentives/test", write=fake_books().write_outbox)  # type: ignore[arg-type]
    ran: list[str] = []
    uow.emit("points.credited", "m", "m", Registered(member_id="m"), id_from=("kept",))
    uow.after_commit(lambda: ran.append("kept"))

    async def refused() -> None:
        async with uow.savepoint():
            uow.emit("points.credited", "m", "m", Registered(member_id="m"), id_from=("dropped",))
            uow.after_commit(lambda: ran.append("dropped"))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await refused()
    assert uow.emitted == 1
    await uow.flush()
    woken: list[bool] = []
    uow.committed(lambda: woken.append(True))
    assert ran == ["kept"] and woken == [True]
    [row] = conn.state.outbox
    event = json.loads(row.value)
    assert (row.topic, event["source"], event["type"]) == (
        "incentives.points.v1",
        "/incentives/test",
        "points.credited",
    )


async def test_an_event_needs_a_stable_id_and_a_known_type() -> None:
    uow = UnitOfWork(FakeConn(), "/incentives/test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stable id"):
        uow.emit("points.credited", "m", "m", Registered(member_id="m"))
    with pytest.raises(KeyError):
        uow.emit("points.unheard_of", "m", "m", Registered(member_id="m"), id_from=("x",))


async def test_a_commit_that_emitted_nothing_does_not_wake_the_relay() -> None:
    uow = UnitOfWork(FakeConn(), "/incentives/test")  # type: ignore[arg-type]
    await uow.flush()
    woken: list[bool] = []
    uow.committed(lambda: woken.append(True))
    assert woken == []


def test_use_cases_import_no_kafka() -> None:
    """outcome.py and uow.py, what use cases import, load neither FastStream nor aiokafka."""
    code = (
        "import sys, incentives_kernel.outcome, incentives_kernel.uow; "
        "print(sorted(m for m in ('faststream', 'aiokafka') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
