"""The consumer's engine: a batch of records, one unit of work, every record's fate recorded.

For each record, in partition order, inside the batch transaction:
1. parse it (bytes -> envelope + typed data) and check who may send it; a bad record is dead-lettered;
2. claim it in the inbox (consumer, source, id); already there -> skip (a redelivery);
3. run the use case for its type; a `PermanentError` dead-letters the record; `Park` keeps it until
   what it awaits arrives (parking.py), and an outcome that releases a key replays what waited for
   it; an infrastructure error rolls the whole batch back (the adapter retries it).
Dead letters go through the outbox too, so a record is dead-lettered exactly once, atomically with
its inbox row.

Two paths, two classes. `WholeBatch` tries the batch at once, optimistically, in one savepoint:
one inbox statement claims every record, a run of consecutive events whose use case is `Batchable`
is handed over at once (set-based SQL), inbox outcomes are written in one round trip. A record
that does not parse is dead-lettered there and then, and a run that one event refuses is halved down
to that event (each half in a savepoint), so one bad record does not cost the other 499 their
set-based path (issue 19's MIX). Anything else it cannot settle (a raised park, an operator's replay,
a bug) discards the savepoint, its events and its callbacks, and `OneAtATime` redoes the batch record
by record, each use case in a savepoint of its own, so the guarantees are its.

What this module is not: Kafka (kafka_adapter.py turns records into batches and commits offsets)
nor the SQL of the kernel's tables (inbox.py, parking.py, outbox.py, reached through `Books`, which
the engine's unit tests replace with memory).
"""

from __future__ import annotations

import collections
import hashlib
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict

from . import dead_letter_proof, inbox, operator_books, outbox, parking
from .db import Conn
from .envelope import ParsedEvent, derived_event_id, parse_event
from .errors import InvalidEvent, PermanentError, is_transient
from .health import Health
from .intake import Intake
from .metrics import KernelMetrics
from .outcome import Batchable, OneByOne, Outcome, Park, UseCase, ignored
from .replay import Replay
from .topics import dlq_topic
from .uow import UnitOfWork, source_of

log = structlog.get_logger(__name__)

# Under the relay producer's 1 MiB request limit with room for the headers: larger records are
# dead-lettered without their value (too_large ones can never be replayed as they are anyway).
DLQ_MAX_VALUE_BYTES = 900 * 1024

Mark = tuple[inbox.InboxKey, str, str | None]  # an inbox outcome to write: key, outcome, reason


def _sha256(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


class AnyData(BaseModel):
    """The data of a known event type that a service records but does not act on."""

    model_config = ConfigDict(extra="allow")


async def not_ours(_uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    return ignored(f"{event.type} is not acted on by this service")


class TransientFailure(Exception):
    """The batch was rolled back and must be retried (offsets not committed)."""


class Record(Protocol):
    """A consumed record as the engine needs it (aiokafka's ConsumerRecord is one)."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    headers: Any


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to handle: a record just consumed, or a parked one being replayed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    # The authenticated replay marker (replay.py) the intake found on it; set only by `Core.admit`,
    # never from the headers alone: anybody can write those.
    replay: Replay | None = None

    @classmethod
    def of(cls, record: Record) -> Delivery:
        return cls(record.topic, record.partition, record.offset, record.key, record.value, tuple(record.headers or ()))

    @classmethod
    def of_parked(cls, parked: parking.ParkedEvent) -> Delivery:
        pos = parked.position
        return cls(pos.topic, pos.partition, pos.offset, parked.record_key, parked.value, parked.headers)

    @property
    def replayed(self) -> bool:
        """Re-published from a DLQ by an operator (`incentives dlq replay`), as the intake verified."""
        return self.replay is not None

    def reopens(self, service: str) -> bool:
        """Whether `service` may retry this event though its inbox holds it as dead-lettered: only an
        authenticated replay of a dead letter that `service` itself wrote (the marker names it)."""
        return self.replay is not None and self.replay.for_service(service)

    @property
    def position(self) -> inbox.Position:
        return inbox.Position(self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class Books:
    """Where the engine keeps its bookkeeping: the kernel's inbox, parked_events and outbox tables."""

    claim: Callable[..., Awaitable[bool]] = inbox.claim
    claim_many: Callable[[Conn, Sequence[tuple[inbox.InboxKey, str | None, inbox.Position]]], Awaitable[set[Any]]] = (
        inbox.claim_many
    )
    set_outcome: Callable[[Conn, inbox.InboxKey, str, str | None], Awaitable[None]] = inbox.set_outcome
    set_outcomes: Callable[[Conn, Sequence[Mark]], Awaitable[None]] = inbox.set_outcomes
    park_many: Callable[[Conn, Sequence[parking.ParkedEvent]], Awaitable[None]] = parking.park_many
    take_parked: Callable[[Conn, str, Sequence[str]], Awaitable[list[parking.ParkedEvent]]] = parking.take_many
    take_expired: Callable[[Conn, str, timedelta], Awaitable[list[parking.ParkedEvent]]] = parking.take_expired
    count_parked: Callable[[Conn, str], Awaitable[int]] = parking.count
    write_outbox: Callable[[Conn, Sequence[outbox.Row]], Awaitable[None]] = outbox.write
    keep_dead_letter: Callable[[Conn, operator_books.DeadLetter], Awaitable[None]] = operator_books.keep


@dataclass
class Tally:
    """Metric updates of one batch, applied only once its transaction has committed."""

    outcomes: list[tuple[str, str, str]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)


Parsed = tuple[Delivery, inbox.InboxKey, ParsedEvent]


@dataclass(frozen=True, slots=True)
class Handled:
    """What came of an operator's action on one event: `applied`, `ignored`, `parked`, `dead_lettered`
    (with its reason) or `duplicate` (this service had handled it already: nothing done)."""

    outcome: str
    reason: str | None = None

    @classmethod
    def of(cls, tally: Tally) -> Handled:
        # The first outcome is the event's own; later ones are parked events it released.
        if tally.outcomes:
            return cls(tally.outcomes[0][2])
        if tally.dead:
            return cls("dead_lettered", tally.dead[0][1])
        return cls("duplicate")


class Core:
    """What both paths share: the use cases, parsing and intake, recording outcomes, dead letters."""

    def __init__(
        self,
        *,
        service: str,
        use_cases: Mapping[str, UseCase],
        types: Mapping[str, type[BaseModel]],
        ignore_types: Collection[str],
        intake: Intake | None,
        books: Books,
        max_consecutive_unexpected: int,
        unexpected_attempts: int,
    ) -> None:
        self.service = service
        self.source = source_of(service)
        self.use_cases: dict[str, UseCase] = {**{t: not_ours for t in ignore_types}, **use_cases}
        self.types: dict[str, type[BaseModel]] = {
            **{t: AnyData for t in ignore_types},
            **{t: m for t, m in types.items() if t in use_cases},
        }
        self.intake = intake  # who may send what (intake.py); None only in tests of the consumer itself
        self.books = books
        self.max_unexpected = max_consecutive_unexpected
        self.unexpected_attempts = unexpected_attempts
        self.attempts: dict[tuple[str, int, int], int] = {}
        self.consecutive_unexpected = 0

    def admit(self, d: Delivery) -> tuple[Delivery, ParsedEvent]:
        """Parse a record and check who may send it (intake.py); both paths go through here.

        Returns the delivery marked with the replay the intake authenticated (None for a plain
        record): only that, never the marker headers themselves, makes a record a replay.
        """
        event = parse_event(d.value, self.types)
        if self.intake is None:
            return d, event
        replay = self.intake.check(d.topic, event, d.value or b"", d.headers)
        return (d if replay is None else replace(d, replay=replay)), event

    def inbox_key(self, event: ParsedEvent) -> inbox.InboxKey:
        return inbox.InboxKey(self.service, event.envelope.source, event.envelope.id)

    def settled(self, d: Delivery, event: ParsedEvent, outcome: Outcome, tally: Tally) -> None:
        """An event's use case came to an outcome (not a park): the record is no longer failing."""
        self.consecutive_unexpected = 0
        self.attempts.pop((d.topic, d.partition, d.offset), None)
        tally.outcomes.append((d.topic, event.type, outcome.kind))
        tally.times[d.topic] = event.envelope.time.timestamp()

    async def released(self, uow: UnitOfWork, outcome: Outcome) -> list[Parsed]:
        """The parked events waiting for what `outcome` releases, oldest first, taken out of parking."""
        if not outcome.releases:
            return []
        return [self.replayable(p) for p in await self.books.take_parked(uow.conn, self.service, outcome.releases)]

    def replayable(self, p: parking.ParkedEvent) -> Parsed:
        """A parked event taken out of parking, ready to run again (it parsed when it was parked)."""
        return (Delivery.of_parked(p), p.key, parse_event(p.value, self.types))

    async def park(self, uow: UnitOfWork, waiting: Sequence[tuple[Parsed, Outcome]], tally: Tally) -> list[Mark]:
        """Park events whose outcome says they wait, in one round trip; their inbox outcomes to write."""
        await self.books.park_many(
            uow.conn,
            [
                parking.ParkedEvent(key, o.awaiting or "", o.reason or "", d.position, d.key, d.value or b"", d.headers)
                for (d, key, _), o in waiting
            ],
        )
        for (d, _, event), _ in waiting:
            tally.outcomes.append((d.topic, event.type, "parked"))
        awaited = sorted({o.awaiting or "" for _, o in waiting})
        log.info("events parked", count=len(waiting), awaiting=awaited[:20], reason=waiting[0][1].reason)
        return [(key, "parked", o.reason) for (_, key, _), o in waiting]

    async def reject_invalid(self, uow: UnitOfWork, d: Delivery, exc: InvalidEvent, tally: Tally) -> None:
        """Dead-letter a record that does not parse or may not be sent, once per record."""
        # No usable identity: its position, and a digest of its bytes, since a topic re-created (or an
        # embedded broker restarted empty) reuses positions for other records.
        key = inbox.InboxKey(
            self.service, f"kafka:{d.topic}", f"{d.partition}/{d.offset}/{_sha256(d.value or b'')[:16]}"
        )
        if await self.books.claim(uow.conn, key, None, d.position):
            await self.dead_letter(uow, d, key, "InvalidEvent", exc.reason, exc.message, tally)
        else:
            tally.duplicates.append(d.topic)

    async def dead_letter(
        self,
        uow: UnitOfWork,
        d: Delivery,
        key: inbox.InboxKey,
        error_class: str,
        reason: str,
        message: str,
        tally: Tally,
    ) -> None:
        await self.books.set_outcome(uow.conn, key, "dead_lettered", reason)
        value = d.value if d.value is not None else b""
        kept: list[tuple[str, bytes]] = []
        if len(value) > DLQ_MAX_VALUE_BYTES:
            # A dead letter as large as the record could never be published (the producer's request
            # limit), and would block every outbox row behind it: keep its size and digest instead.
            kept = [("original.size", str(len(value)).encode()), ("original.sha256", _sha256(value).encode())]
            value = b""
        headers = [
            *d.headers,
            *kept,
            ("error.class", error_class.encode()),
            ("error.reason", reason.encode()),
            ("error.message", message[:1000].encode()),
            ("error.service", self.service.encode()),
            ("original.topic", d.topic.encode()),
            ("original.partition", str(d.partition).encode()),
            ("original.offset", str(d.offset).encode()),
            ("x-dead-lettered-ts", str(int(time.time() * 1000)).encode()),
            # Last: what `incentives dlq replay` re-publishes only with (dead_letter_proof.py); none without a key.
            *dead_letter_proof.prove(
                self.intake.replay_key if self.intake is not None else "",
                service=self.service,
                topic=d.topic,
                partition=d.partition,
                offset=d.offset,
                record_key=d.key,
                value=d.value or b"",
                headers=d.headers,
            ),
        ]
        row = outbox.row(
            topic=dlq_topic(d.topic),
            key=d.key,
            value=value,
            # Position and identity: a redelivery is the same dead letter, a record that reuses the
            # position after a topic was re-created (or a replay that fails again) is a new one.
            event_id=derived_event_id(
                "dlq", self.service, d.topic, str(d.partition), str(d.offset), key.source, key.event_id
            ),
            headers=headers,
        )
        uow.enqueue(row)
        # And kept for the operator APIs (operator_api.py), which list and replay them without Kafka.
        await self.books.keep_dead_letter(
            uow.conn, operator_books.DeadLetter(row, d.topic, reason, error_class, message[:1000], self.service)
        )
        tally.dead.append((d.topic, reason))
        log.warning(
            "event dead-lettered",
            reason=reason,
            error_class=error_class,
            message=message[:300],
            topic=d.topic,
            partition=d.partition,
            offset=d.offset,
        )


class _RunRefused(Exception):
    """An event of a set-based run refused, in a pass without a savepoint per run: redo the pass carefully."""


class WholeBatch:
    """The batch at once in one savepoint, runs of `Batchable` events set-based; or nothing of it."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def attempt(self, uow: UnitOfWork, deliveries: Sequence[Delivery]) -> Tally | None:
        """The whole batch; None (and nothing of it kept) if it must go record by record."""
        try:
            return await self._attempt(uow, deliveries, careful=False)
        except _RunRefused:
            # An event of a set-based run refused. Again, each run in a savepoint and halved down to
            # that event: clean batches (nearly all) pay no savepoint per run, one with a refusal pays
            # one more set-based pass, not a pass record by record.
            try:
                return await self._attempt(uow, deliveries, careful=True)
            except _RunRefused:  # pragma: no cover - careful runs never raise it
                return None

    async def _attempt(self, uow: UnitOfWork, deliveries: Sequence[Delivery], *, careful: bool) -> Tally | None:
        core = self.core
        parsed: list[Parsed] = []
        invalid: list[tuple[Delivery, InvalidEvent]] = []
        for raw in deliveries:
            try:
                d, event = core.admit(raw)
            except InvalidEvent as exc:
                # Bad bytes, a refused source or a forged marker affect nothing but their own dead letter,
                # so they must not send the other records of the batch down the per-record path.
                invalid.append((raw, exc))
                continue
            if d.reopens(core.service):  # an operator's replay may retry a dead-lettered claim: the per-record path
                return None
            parsed.append((d, core.inbox_key(event), event))
        tally = Tally()
        marks: list[Mark] = []
        try:
            async with uow.savepoint():  # giving up leaves nothing of this attempt: rows, events, callbacks
                for bad, why in invalid:
                    await core.reject_invalid(uow, bad, why, tally)
                claimed = await core.books.claim_many(uow.conn, [(key, e.type, d.position) for d, key, e in parsed])
                fresh = []
                for d, key, e in parsed:
                    if key in claimed:
                        claimed.discard(key)  # the same event twice in one batch: the first one counts
                        fresh.append((d, key, e))
                    else:
                        tally.duplicates.append(d.topic)
                await self._apply(uow, fresh, tally, marks, replayed=False, careful=careful)
                await core.books.set_outcomes(uow.conn, marks)
        except _RunRefused:
            raise
        except (OneByOne, Park, PermanentError) as exc:
            log.debug("batch handled record by record", cause=type(exc).__name__)
            return None
        except Exception as exc:
            if is_transient(exc):
                raise
            # Perhaps a bug in a `many` that `one` does not share: correct, but slow, so it must show.
            log.warning(
                "whole-batch attempt failed, batch handled record by record", error=type(exc).__name__, exc_info=exc
            )
            return None
        return tally

    async def _apply(
        self,
        uow: UnitOfWork,
        fresh: Sequence[Parsed],
        tally: Tally,
        marks: list[Mark],
        *,
        replayed: bool,
        careful: bool,
    ) -> None:
        """Run the use cases in order, a run of consecutive `Batchable` events of one kind at once.

        What outcomes release is taken out of parking in one statement (not one per registration)
        and the released events run together (a run of credits released by many registrations is
        one `many` call), at the end or just before the next event with the key of an event that
        released something, whichever comes first. Only the order of records with the same key
        counts (Kafka orders nothing across keys): if a released event's key came between its
        releaser and that point, the batch goes record by record instead (`OneByOne`).
        """
        core = self.core
        use_cases = core.use_cases
        pending: dict[str, int] = {}  # released, not taken yet -> the first event (index) that released it
        pending_keys: set[bytes | None] = set()  # the record keys of those events
        at_by_key: dict[bytes | None, list[int]] = {}
        for at, (d, _, _) in enumerate(fresh):
            at_by_key.setdefault(d.key, []).append(at)

        async def run_released(before: int) -> None:
            taken = await core.books.take_parked(uow.conn, core.service, list(pending))
            for p in taken:
                after = pending[p.awaiting]
                if any(after < at < before for at in at_by_key.get(p.record_key, ())):
                    raise OneByOne(f"an event with the key of one {p.awaiting} released came in between")
            pending.clear()
            pending_keys.clear()
            if taken:
                await self._apply(
                    uow, [core.replayable(p) for p in taken], tally, marks, replayed=True, careful=careful
                )

        i = 0
        while i < len(fresh):
            if fresh[i][0].key in pending_keys:
                await run_released(i)
            use_case = use_cases[fresh[i][2].type]
            if isinstance(use_case, Batchable):
                j = i + 1
                while (
                    j < len(fresh)
                    and getattr(use_cases[fresh[j][2].type], "many", None) is use_case.many
                    and fresh[j][0].key not in pending_keys
                ):
                    j += 1
                outcomes = await self._many(uow, use_case, fresh[i:j], tally, careful=careful)
            else:
                j = i + 1
                outcomes = [await use_case(uow, fresh[i][2])]
            handled = [(p, o) for p, o in zip(fresh[i:j], outcomes, strict=True) if o is not None]
            waiting = [(p, o) for p, o in handled if o.kind == "parked"]
            if waiting:
                marks += await core.park(uow, waiting, tally)
            for at, ((d, key, event), outcome) in enumerate(handled, start=i):
                if outcome.kind != "parked":
                    core.settled(d, event, outcome, tally)
                    if outcome.kind != "applied" or replayed:
                        marks.append((key, outcome.kind, outcome.reason))
                    for awaited in outcome.releases:
                        pending.setdefault(awaited, at)
                        pending_keys.add(d.key)
            i = j
        if pending:
            await run_released(len(fresh))

    async def _many(
        self, uow: UnitOfWork, use_case: Batchable, run: Sequence[Parsed], tally: Tally, *, careful: bool
    ) -> list[Outcome | None]:
        """`use_case.many` over a run of events; None for an event it dead-lettered.

        `careful`: a run that one event refuses (`PermanentError`) or that needs an event alone
        (`OneByOne`) is halved, each half in a savepoint of its own, down to the event that refuses:
        about 2 x log2(run) small retries, so one bad record does not cost the others their set-based
        path. Not careful (the first pass): no savepoint, and a refusal ends the pass (`_RunRefused`).
        """
        outcomes: list[Outcome | None]
        if not careful:
            try:
                outcomes = list(await use_case.many(uow, [e for _, _, e in run]))
            except (OneByOne, PermanentError) as refused:
                raise _RunRefused() from refused
            if len(outcomes) != len(run):
                raise OneByOne(f"{len(outcomes)} outcomes for {len(run)} events")
            return outcomes
        try:
            async with uow.savepoint():
                outcomes = list(await use_case.many(uow, [e for _, _, e in run]))
        except (OneByOne, PermanentError) as exc:
            if len(run) == 1:
                return [await self._one(uow, run[0], tally)]
            log.debug("run halved", cause=type(exc).__name__, events=len(run))
            half = len(run) // 2
            return [
                *await self._many(uow, use_case, run[:half], tally, careful=True),
                *await self._many(uow, use_case, run[half:], tally, careful=True),
            ]
        if len(outcomes) != len(run):
            raise OneByOne(f"{len(outcomes)} outcomes for {len(run)} events")
        return outcomes

    async def _one(self, uow: UnitOfWork, parsed: Parsed, tally: Tally) -> Outcome | None:
        """One event of a run by its one-event use case, as `OneAtATime.run` does: None if dead-lettered."""
        core = self.core
        d, key, event = parsed
        try:
            async with uow.savepoint():
                return await core.use_cases[event.type](uow, event)
        except Park as wait:
            return Outcome("parked", wait.reason, awaiting=wait.awaiting)
        except PermanentError as exc:
            await core.dead_letter(uow, d, key, "PermanentError", exc.reason, exc.message, tally)
            return None


class OneAtATime:
    """Record by record, each use case in a savepoint of its own: what a refusal or park needs."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def handle(self, uow: UnitOfWork, deliveries: Sequence[Delivery]) -> Tally:
        tally = Tally()
        for d in deliveries:
            await self._handle(uow, d, tally)
        return tally

    async def _handle(self, uow: UnitOfWork, d: Delivery, tally: Tally) -> None:
        core = self.core
        try:
            d, event = core.admit(d)
        except InvalidEvent as exc:
            await core.reject_invalid(uow, d, exc, tally)
            return
        key = core.inbox_key(event)
        if not await core.books.claim(uow.conn, key, event.type, d.position, retry_dead=d.reopens(core.service)):
            tally.duplicates.append(d.topic)
            return
        await self.run(uow, (d, key, event), tally, replayed=False)

    async def run(self, uow: UnitOfWork, parsed: Parsed, tally: Tally, *, replayed: bool) -> None:
        """Run the event's use case in a savepoint and record what came of it; replay what it releases."""
        core = self.core
        d, key, event = parsed
        env = event.envelope
        with structlog.contextvars.bound_contextvars(
            event_id=env.id, event_source=env.source, event_type=env.type, topic=d.topic
        ):
            try:
                # A savepoint: a refused event leaves no partial effect (its events and callbacks included).
                async with uow.savepoint():
                    outcome = await core.use_cases[env.type](uow, event)
            except Park as wait:
                outcome = Outcome("parked", wait.reason, awaiting=wait.awaiting)
            except PermanentError as exc:
                await core.dead_letter(uow, d, key, "PermanentError", exc.reason, exc.message, tally)
                return
            except Exception as exc:
                if is_transient(exc):
                    raise
                await self._unexpected(uow, d, key, exc, tally)
                return
        if outcome.kind == "parked":
            for mark in await core.park(uow, [(parsed, outcome)], tally):
                await core.books.set_outcome(uow.conn, *mark)
            return
        core.settled(d, event, outcome, tally)
        if outcome.kind != "applied" or replayed:
            await core.books.set_outcome(uow.conn, key, outcome.kind, outcome.reason)
        for again in await core.released(uow, outcome):
            await self.run(uow, again, tally, replayed=True)

    async def _unexpected(
        self, uow: UnitOfWork, d: Delivery, key: inbox.InboxKey, exc: Exception, tally: Tally
    ) -> None:
        """A bug or an unforeseen input: retry the batch a few times, then dead-letter the record."""
        core = self.core
        where = (d.topic, d.partition, d.offset)
        core.attempts[where] = core.attempts.get(where, 0) + 1
        log.error("use case failed unexpectedly", error=type(exc).__name__, attempt=core.attempts[where], exc_info=exc)
        if core.attempts[where] < core.unexpected_attempts:
            raise TransientFailure(f"unexpected {type(exc).__name__}, attempt {core.attempts[where]}")
        core.attempts.pop(where, None)
        core.consecutive_unexpected += 1
        # Only the class and SQLSTATE: database error texts can quote personal data.
        detail = type(exc).__name__ + (f" sqlstate={exc.sqlstate}" if isinstance(exc, asyncpg.PostgresError) else "")
        await core.dead_letter(uow, d, key, type(exc).__name__, "unexpected_error", detail, tally)


class EventConsumer:
    """Routes each parsed event to the use case for its type, with inbox, parking, DLQ and retries."""

    def __init__(
        self,
        *,
        service: str,
        pool: Callable[[], Any],
        metrics: KernelMetrics,
        health: Health,
        use_cases: Mapping[str, UseCase],
        types: Mapping[str, type[BaseModel]],
        ignore_types: Collection[str] = (),
        wake: Callable[[], None] = lambda: None,
        max_consecutive_unexpected: int = 20,
        unexpected_attempts: int = 3,
        intake: Intake | None = None,
        books: Books | None = None,
    ) -> None:
        self.service = service
        self._pool = pool
        self._metrics = metrics
        self._health = health
        self._wake = wake  # the relay's bell: rung once per commit that wrote to the outbox
        self._core = Core(
            service=service,
            use_cases=use_cases,
            types=types,
            ignore_types=ignore_types,
            intake=intake,
            books=books or Books(),
            max_consecutive_unexpected=max_consecutive_unexpected,
            unexpected_attempts=unexpected_attempts,
        )
        self._whole = WholeBatch(self._core)
        self._one_at_a_time = OneAtATime(self._core)

    @property
    def use_cases(self) -> dict[str, UseCase]:
        return self._core.use_cases

    def _unit_of_work(self, conn: Conn) -> UnitOfWork:
        return UnitOfWork(conn, self._core.source, write=self._core.books.write_outbox)

    async def handle_batch(self, records: Sequence[Record]) -> None:
        """Handle the records in one transaction. Raises `TransientFailure` if it must be retried."""
        if self._core.consecutive_unexpected >= self._core.max_unexpected:
            raise TransientFailure("halted: too many consecutive unexpected failures")
        started = time.perf_counter()
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                uow = self._unit_of_work(conn)
                deliveries = [Delivery.of(record) for record in records]
                tally = await self._whole.attempt(uow, deliveries)
                if tally is None:
                    tally = await self._one_at_a_time.handle(uow, deliveries)
                await uow.flush()
        except TransientFailure:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise TransientFailure(f"{type(exc).__name__}") from exc
            raise
        uow.committed(self._wake)
        self._count(records, tally, time.perf_counter() - started)

    async def expire_parked(self, grace: timedelta) -> int:
        """Dead-letter events parked for longer than `grace`; returns how many."""
        core = self._core
        tally = Tally()
        async with self._pool().acquire() as conn, conn.transaction():
            uow = self._unit_of_work(conn)
            expired = await core.books.take_expired(conn, self.service, grace)
            for p in expired:
                message = f"waited more than {int(grace.total_seconds())} s for {p.awaiting}: {p.reason}"
                await core.dead_letter(
                    uow, Delivery.of_parked(p), p.key, "PermanentError", "parked_too_long", message, tally
                )
            self._metrics.parked.set(await core.books.count_parked(conn, self.service))
            await uow.flush()
        uow.committed(self._wake)
        for topic, reason in tally.dead:
            self._metrics.dlq.labels(topic, reason).inc()
            self._metrics.events_handled.labels(topic, "", "dead_lettered").inc()
        return len(expired)

    # ----------------------------------------------------------------- operator actions (operator_api.py)

    async def handle_now(
        self,
        prepare: Callable[[Conn], Awaitable[Delivery | None]],
        audit: Callable[[Conn, Handled], Awaitable[None]],
    ) -> Handled | None:
        """An operator's replay of a dead letter, handled at once by this service's engine (not through Kafka:
        a service may not write the topics it consumes). `prepare` finds (and locks) the dead letter and
        returns it as a delivery with the replay marker, None if there is none; it goes the way a consumed
        record goes (intake, claim, use case), so only a marker the intake authenticates for this service
        reopens the dead-lettered event. `audit` records who asked, in the same transaction."""
        async with self._pool().acquire() as conn, conn.transaction():
            uow = self._unit_of_work(conn)
            tally = Tally()
            d = await prepare(conn)
            if d is None:
                return None
            await self._one_at_a_time._handle(uow, d, tally)
            done = Handled.of(tally)
            await audit(conn, done)
            await uow.flush()
        uow.committed(self._wake)
        self._count_operator(tally)
        return done

    async def act_on_parked(
        self,
        take: Callable[[Conn], Awaitable[parking.ParkedEvent | None]],
        audit: Callable[[Conn, Handled], Awaitable[None]],
        *,
        dead_letter: str | None = None,
    ) -> Handled | None:
        """An operator's release of a parked event (run now, as if what it awaits had arrived), or with
        `dead_letter` (the message) its dead-lettering now; None if `take` finds it no longer parked."""
        core = self._core
        async with self._pool().acquire() as conn, conn.transaction():
            uow = self._unit_of_work(conn)
            tally = Tally()
            p = await take(conn)
            if p is None:
                return None
            d = Delivery.of_parked(p)
            if dead_letter is not None:
                await core.dead_letter(uow, d, p.key, "PermanentError", "dead_lettered_by_operator", dead_letter, tally)
            else:
                await self._one_at_a_time.run(uow, (d, p.key, parse_event(p.value, core.types)), tally, replayed=True)
            done = Handled.of(tally)
            await audit(conn, done)
            self._metrics.parked.set(await core.books.count_parked(conn, self.service))
            await uow.flush()
        uow.committed(self._wake)
        self._count_operator(tally)
        return done

    def _count_operator(self, tally: Tally) -> None:
        m = self._metrics
        for topic, typ, outcome in tally.outcomes:
            m.events_handled.labels(topic, typ, outcome).inc()
        for topic, reason in tally.dead:
            m.dlq.labels(topic, reason).inc()
            m.events_handled.labels(topic, "", "dead_lettered").inc()

    def _count(self, records: Sequence[Record], tally: Tally, took: float) -> None:
        m = self._metrics
        # Once per distinct (topic, type, outcome) of the batch, not once per event: labels() is not free.
        for (topic, typ, outcome), n in collections.Counter(tally.outcomes).items():
            m.events_handled.labels(topic, typ, outcome).inc(n)
        for topic, reason in tally.dead:
            m.dlq.labels(topic, reason).inc()
            m.events_handled.labels(topic, "", "dead_lettered").inc()
        for topic in tally.duplicates:
            m.duplicates.labels(topic).inc()
        for topic, ts in tally.times.items():
            m.last_event_ts.labels(topic).set(ts)
        for topic in {r.topic for r in records}:
            m.batch_seconds.labels(topic).observe(took)
            m.batch_size.labels(topic).observe(sum(1 for r in records if r.topic == topic))
