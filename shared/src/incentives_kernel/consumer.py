"""Consuming: a batch of records, one database transaction, then the offset commit.

For each record, in partition order, inside the batch transaction:
1. parse it (bytes -> envelope + typed data); a bad record is dead-lettered;
2. claim it in the inbox (consumer, source, id); already there -> skip (a redelivery);
3. run the use case for its type in a savepoint; a `PermanentError` rolls the savepoint back and
   dead-letters the record; `Park` keeps it until what it awaits arrives (see parking.py), and an
   outcome that releases a key replays what waited for it; an infrastructure error rolls the whole
   batch back.
Dead letters go through the outbox too, so a record is dead-lettered exactly once, atomically with
its inbox row. The offsets are committed only after the transaction commits; on a transient error
every partition of the batch is rewound and retried after a capped, jittered backoff.

That per-record path costs a few round trips per record besides the use case's own. So a batch is
first tried whole, optimistically, in one savepoint: one inbox statement claims every record,
outbox rows are written in one round trip at the end, and a run of consecutive events whose use
case is `Batchable` is handed over at once (set-based SQL). Only when every record parses and
every use case succeeds is that kept; otherwise (a bad record, a refusal, a park, a bug) the
savepoint is rolled back and the batch is redone record by record as above, so the guarantees are
the per-record path's.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import BaseModel, ConfigDict

from . import inbox, outbox, parking
from .db import Conn
from .envelope import ParsedEvent, derived_event_id, parse_event
from .errors import InvalidEvent, PermanentError, is_transient
from .health import Health
from .intake import Intake
from .metrics import KernelMetrics
from .topics import dlq_topic

log = structlog.get_logger(__name__)

REPLAY_HEADER = "x-replayed-from"
# Under the relay producer's 1 MiB request limit with room for the headers: larger records are
# dead-lettered without their value (too_large ones can never be replayed as they are anyway).
DLQ_MAX_VALUE_BYTES = 900 * 1024


def _sha256(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a use case did with an event, recorded in the inbox (`applied` needs no reason)."""

    kind: str = "applied"  # applied | ignored | parked
    reason: str | None = None
    releases: tuple[str, ...] = ()  # keys that parked events may be waiting for (`member:<id>`, ...)
    on_commit: tuple[Callable[[], None], ...] = ()  # e.g. domain metrics: run only once the batch commits
    awaiting: str | None = None  # parked: what it waits for


APPLIED = Outcome()


def applied(*releases: str, on_commit: tuple[Callable[[], None], ...] = ()) -> Outcome:
    """Applied, what it makes available to events parked waiting for it, and what to do after commit."""
    return Outcome("applied", None, tuple(releases), on_commit)


def ignored(reason: str) -> Outcome:
    return Outcome("ignored", reason)


def parked(awaiting: str, reason: str) -> Outcome:
    """For a `Batchable`'s `many`: this event waits for `awaiting`, as `one` raising `Park` would make it."""
    return Outcome("parked", reason, awaiting=awaiting)


class AnyData(BaseModel):
    """The data of a known event type that a service records but does not act on."""

    model_config = ConfigDict(extra="allow")


async def not_ours(_conn: Conn, event: ParsedEvent) -> Outcome:
    return ignored(f"{event.type} is not acted on by this service")


UseCase = Callable[[Conn, ParsedEvent], Awaitable[Outcome]]
BatchUseCase = Callable[[Conn, Sequence[ParsedEvent]], Awaitable[Sequence[Outcome]]]


@dataclass(frozen=True, slots=True)
class Batchable:
    """A use case that can also take a run of consecutive events at once, with set-based SQL.

    `many` must have the effects of `one` applied to each event in order and return one outcome
    per event; where `one` would refuse or park any of them, or where it cannot tell cheaply,
    `many` raises `OneByOne` and the consumer redoes the batch event by event with `one`.
    """

    one: UseCase
    many: BatchUseCase

    async def __call__(self, conn: Conn, event: ParsedEvent) -> Outcome:
        return await self.one(conn, event)


class OneByOne(Exception):
    """Raised by a `Batchable`'s `many` (or the kernel): redo this batch record by record."""


class TransientFailure(Exception):
    """The batch was rolled back and must be retried (offsets not committed)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to handle: a record just consumed, or a parked one being replayed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any]) -> Delivery:
        return cls(record.topic, record.partition, record.offset, record.key, record.value, tuple(record.headers or ()))

    @classmethod
    def of_parked(cls, parked: parking.ParkedEvent) -> Delivery:
        pos = parked.position
        return cls(pos.topic, pos.partition, pos.offset, parked.record_key, parked.value, parked.headers)

    @property
    def replayed(self) -> bool:
        """Re-published from a DLQ by an operator (`incentives dlq replay`)."""
        return any(k == REPLAY_HEADER for k, _ in self.headers)

    @property
    def position(self) -> inbox.Position:
        return inbox.Position(self.topic, self.partition, self.offset)


@dataclass
class _Pending:
    """Metric updates applied only once the batch transaction has committed."""

    outcomes: list[tuple[str, str, str]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    callbacks: list[Callable[[], None]] = field(default_factory=list)


class EventConsumer:
    """Routes each parsed event to the use case for its type, with inbox, parking, DLQ and retries."""

    def __init__(
        self,
        *,
        service: str,
        pool: Callable[[], asyncpg.Pool],
        metrics: KernelMetrics,
        health: Health,
        use_cases: Mapping[str, UseCase],
        types: Mapping[str, type[BaseModel]],
        ignore_types: Collection[str] = (),
        on_commit: Callable[[], None] = lambda: None,
        max_consecutive_unexpected: int = 20,
        unexpected_attempts: int = 3,
        intake: Intake | None = None,
    ) -> None:
        self.service = service
        self._pool = pool
        self._metrics = metrics
        self._health = health
        self._use_cases = {**{t: not_ours for t in ignore_types}, **use_cases}
        self._types: dict[str, type[BaseModel]] = {
            **{t: AnyData for t in ignore_types},
            **{t: m for t, m in types.items() if t in use_cases},
        }
        self._on_commit = on_commit
        self._max_unexpected = max_consecutive_unexpected
        self._unexpected_attempts = unexpected_attempts
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._consecutive_unexpected = 0
        self._intake = intake  # who may send what (intake.py); None only in tests of the consumer itself

    async def handle_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Handle the records in one transaction. Raises `TransientFailure` if it must be retried."""
        if self._consecutive_unexpected >= self._max_unexpected:
            raise TransientFailure("halted: too many consecutive unexpected failures")
        pending = _Pending()
        started = time.perf_counter()
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                deliveries = [Delivery.of(record) for record in records]
                fast = await self._handle_whole(conn, deliveries)
                if fast is not None:
                    pending = fast
                else:
                    for d in deliveries:
                        await self._handle_one(conn, d, pending)
        except TransientFailure:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise TransientFailure(f"{type(exc).__name__}") from exc
            raise
        self._on_commit()
        self._after_commit(records, pending, time.perf_counter() - started)

    async def _handle_whole(self, conn: Conn, deliveries: Sequence[Delivery]) -> _Pending | None:
        """The whole batch in one savepoint; None (and nothing of it kept) if it must go record by record."""
        parsed: list[tuple[Delivery, inbox.InboxKey, ParsedEvent]] = []
        for d in deliveries:
            if d.replayed:  # an operator's DLQ replay may retry a dead-lettered claim: the per-record path
                return None
            try:
                event = self._admit(d)
            except InvalidEvent:  # bad bytes or a refused source: the per-record path dead-letters it
                return None
            parsed.append((d, inbox.InboxKey(self.service, event.envelope.source, event.envelope.id), event))
        pending = _Pending()
        marks: list[tuple[inbox.InboxKey, str, str | None]] = []
        try:
            async with conn.transaction():  # one savepoint: giving up leaves nothing of this attempt
                claimed = await inbox.claim_many(conn, [(key, e.type, d.position) for d, key, e in parsed])
                fresh = []
                for d, key, e in parsed:
                    if key in claimed:
                        claimed.discard(key)  # the same event twice in one batch: the first one counts
                        fresh.append((d, key, e))
                    else:
                        pending.duplicates.append(d.topic)
                async with outbox.buffered(conn):
                    await self._apply_all(conn, fresh, pending, marks)
                await inbox.set_outcomes(conn, marks)
        except TransientFailure:
            raise
        except (OneByOne, parking.Park, PermanentError) as exc:
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
        return pending

    async def _apply_all(
        self,
        conn: Conn,
        fresh: Sequence[tuple[Delivery, inbox.InboxKey, ParsedEvent]],
        pending: _Pending,
        marks: list[tuple[inbox.InboxKey, str, str | None]],
        replayed: bool = False,
    ) -> None:
        """Run the use cases in order, a run of consecutive `Batchable` events of one kind at once.

        Parked events an outcome releases wait in `released` and run together (a run of credits
        released by many registrations is then one `many` call) just before the next event with
        the key of one of them, or at the end: only the order of records with the same key counts
        (Kafka orders nothing across keys), and that is kept.
        """
        released: list[tuple[Delivery, inbox.InboxKey, ParsedEvent]] = []
        released_keys: set[bytes | None] = set()

        async def run_released() -> None:
            if released:
                waiting = list(released)
                released.clear()
                released_keys.clear()
                await self._apply_all(conn, waiting, pending, marks, replayed=True)

        i = 0
        while i < len(fresh):
            if fresh[i][0].key in released_keys:
                await run_released()
            use_case = self._use_cases[fresh[i][2].type]
            if isinstance(use_case, Batchable):
                j = i + 1
                while (
                    j < len(fresh)
                    and getattr(self._use_cases[fresh[j][2].type], "many", None) is use_case.many
                    and fresh[j][0].key not in released_keys
                ):
                    j += 1
                outcomes = list(await use_case.many(conn, [e for _, _, e in fresh[i:j]]))
                if len(outcomes) != j - i:
                    raise OneByOne(f"{len(outcomes)} outcomes for {j - i} events")
            else:
                j = i + 1
                outcomes = [await use_case(conn, fresh[i][2])]
            waiting = len(released)
            handled = list(zip(fresh[i:j], outcomes, strict=True))
            await self._park([(d, key, e, o) for (d, key, e), o in handled if o.kind == "parked"], conn, pending, marks)
            for (d, key, event), outcome in handled:
                if outcome.kind != "parked":
                    await self._record(conn, d, key, event, outcome, pending, replayed, marks=marks, released=released)
            released_keys.update(d.key for d, _, _ in released[waiting:])
            i = j
        await run_released()

    def _admit(self, d: Delivery) -> ParsedEvent:
        """Parse a record and check who may send it (intake.py); both paths go through here."""
        event = parse_event(d.value, self._types)
        if self._intake is not None:
            self._intake.check(d.topic, event, d.value or b"", d.headers, replayed=d.replayed)
        return event

    async def _handle_one(self, conn: Conn, d: Delivery, pending: _Pending) -> None:
        try:
            event = self._admit(d)
        except InvalidEvent as exc:
            # No usable identity: its position, and a digest of its bytes, since a topic re-created (or an
            # embedded broker restarted empty) reuses positions for other records.
            key = inbox.InboxKey(
                self.service, f"kafka:{d.topic}", f"{d.partition}/{d.offset}/{_sha256(d.value or b'')[:16]}"
            )
            if await inbox.claim(conn, key, None, d.position):
                await self._dead_letter(conn, d, key, "InvalidEvent", exc.reason, exc.message, pending)
            else:
                pending.duplicates.append(d.topic)
            return
        key = inbox.InboxKey(self.service, event.envelope.source, event.envelope.id)
        if not await inbox.claim(conn, key, event.type, d.position, retry_dead=d.replayed):
            pending.duplicates.append(d.topic)
            return
        await self._run(conn, d, key, event, pending)

    async def _run(
        self,
        conn: Conn,
        d: Delivery,
        key: inbox.InboxKey,
        event: ParsedEvent,
        pending: _Pending,
        replayed: bool = False,
    ) -> None:
        """Run the event's use case in a savepoint and record what came of it; replay what it releases."""
        env = event.envelope
        with structlog.contextvars.bound_contextvars(
            event_id=env.id, event_source=env.source, event_type=env.type, topic=d.topic
        ):
            try:
                # A savepoint: a refused event leaves no partial effect (its outbox rows included).
                async with conn.transaction(), outbox.buffered(conn):
                    outcome = await self._use_cases[env.type](conn, event)
            except parking.Park as wait:
                await parking.park(conn, key, wait.awaiting, wait.reason, d.position, d.key, d.value or b"", d.headers)
                await inbox.set_outcome(conn, key, "parked", wait.reason)
                pending.outcomes.append((d.topic, env.type, "parked"))
                log.info("event parked", awaiting=wait.awaiting, reason=wait.reason)
                return
            except PermanentError as exc:
                await self._dead_letter(conn, d, key, "PermanentError", exc.reason, exc.message, pending)
                return
            except Exception as exc:
                if is_transient(exc):
                    raise
                await self._unexpected(conn, d, key, exc, pending)
                return
        await self._record(conn, d, key, event, outcome, pending, replayed=replayed)

    async def _record(
        self,
        conn: Conn,
        d: Delivery,
        key: inbox.InboxKey,
        event: ParsedEvent,
        outcome: Outcome,
        pending: _Pending,
        replayed: bool = False,
        marks: list[tuple[inbox.InboxKey, str, str | None]] | None = None,
        released: list[tuple[Delivery, inbox.InboxKey, ParsedEvent]] | None = None,
    ) -> None:
        """Record what a use case did with an event and replay what it releases.

        `marks`: inbox outcomes to write later in one go; `released`: where to leave the released
        events for the caller to run (else they run here, one by one).
        """
        if outcome.kind == "parked":
            await self._park([(d, key, event, outcome)], conn, pending, marks)
            return
        self._consecutive_unexpected = 0
        self._attempts.pop((d.topic, d.partition, d.offset), None)
        if outcome.kind != "applied" or replayed:
            if marks is not None:
                marks.append((key, outcome.kind, outcome.reason))
            else:
                await inbox.set_outcome(conn, key, outcome.kind, outcome.reason)
        pending.outcomes.append((d.topic, event.type, outcome.kind))
        pending.times[d.topic] = event.envelope.time.timestamp()
        pending.callbacks.extend(outcome.on_commit)
        for awaited in outcome.releases:
            for parked in await parking.take(conn, self.service, awaited):
                again = parse_event(parked.value, self._types)  # it parsed when it was parked
                if released is not None:
                    released.append((Delivery.of_parked(parked), parked.key, again))
                else:
                    await self._run(conn, Delivery.of_parked(parked), parked.key, again, pending, replayed=True)

    async def _park(
        self,
        waiting: Sequence[tuple[Delivery, inbox.InboxKey, ParsedEvent, Outcome]],
        conn: Conn,
        pending: _Pending,
        marks: list[tuple[inbox.InboxKey, str, str | None]] | None,
    ) -> None:
        """Park events whose outcome says they wait (a `Batchable` run's), in one round trip."""
        if not waiting:
            return
        await parking.park_many(
            conn,
            [
                parking.ParkedEvent(key, o.awaiting or "", o.reason or "", d.position, d.key, d.value or b"", d.headers)
                for d, key, _, o in waiting
            ],
        )
        for d, key, event, o in waiting:
            if marks is not None:
                marks.append((key, "parked", o.reason))
            else:
                await inbox.set_outcome(conn, key, "parked", o.reason)
            pending.outcomes.append((d.topic, event.type, "parked"))
        awaited = sorted({o.awaiting or "" for _, _, _, o in waiting})
        log.info("events parked", count=len(waiting), awaiting=awaited[:20], reason=waiting[0][3].reason)

    async def expire_parked(self, grace: timedelta) -> int:
        """Dead-letter events parked for longer than `grace`; returns how many."""
        pending = _Pending()
        async with self._pool().acquire() as conn, conn.transaction():
            expired = await parking.take_expired(conn, self.service, grace)
            for parked in expired:
                message = f"waited more than {int(grace.total_seconds())} s for {parked.awaiting}: {parked.reason}"
                await self._dead_letter(
                    conn, Delivery.of_parked(parked), parked.key, "PermanentError", "parked_too_long", message, pending
                )
            self._metrics.parked.set(await parking.count(conn, self.service))
        if expired:
            self._on_commit()
            for topic, reason in pending.dead:
                self._metrics.dlq.labels(topic, reason).inc()
                self._metrics.events_handled.labels(topic, "", "dead_lettered").inc()
        return len(expired)

    async def _unexpected(
        self, conn: Conn, d: Delivery, key: inbox.InboxKey, exc: Exception, pending: _Pending
    ) -> None:
        """A bug or an unforeseen input: retry the batch a few times, then dead-letter the record."""
        where = (d.topic, d.partition, d.offset)
        self._attempts[where] = self._attempts.get(where, 0) + 1
        log.error("use case failed unexpectedly", error=type(exc).__name__, attempt=self._attempts[where], exc_info=exc)
        if self._attempts[where] < self._unexpected_attempts:
            raise TransientFailure(f"unexpected {type(exc).__name__}, attempt {self._attempts[where]}")
        self._attempts.pop(where, None)
        self._consecutive_unexpected += 1
        # Only the class and SQLSTATE: database error texts can quote personal data.
        detail = type(exc).__name__ + (f" sqlstate={exc.sqlstate}" if isinstance(exc, asyncpg.PostgresError) else "")
        await self._dead_letter(conn, d, key, type(exc).__name__, "unexpected_error", detail, pending)

    async def _dead_letter(
        self,
        conn: Conn,
        d: Delivery,
        key: inbox.InboxKey,
        error_class: str,
        reason: str,
        message: str,
        pending: _Pending,
    ) -> None:
        await inbox.set_outcome(conn, key, "dead_lettered", reason)
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
        ]
        await outbox.enqueue(
            conn,
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
        pending.dead.append((d.topic, reason))
        log.warning(
            "event dead-lettered",
            reason=reason,
            error_class=error_class,
            message=message[:300],
            topic=d.topic,
            partition=d.partition,
            offset=d.offset,
        )

    def _after_commit(self, records: Sequence[ConsumerRecord[Any, Any]], pending: _Pending, took: float) -> None:
        m = self._metrics
        for callback in pending.callbacks:
            callback()
        for topic, typ, outcome in pending.outcomes:
            m.events_handled.labels(topic, typ, outcome).inc()
        for topic, reason in pending.dead:
            m.dlq.labels(topic, reason).inc()
            m.events_handled.labels(topic, "", "dead_lettered").inc()
        for topic in pending.duplicates:
            m.duplicates.labels(topic).inc()
        for topic, ts in pending.times.items():
            m.last_event_ts.labels(topic).set(ts)
        topics = {r.topic for r in records}
        for topic in topics:
            m.batch_seconds.labels(topic).observe(took)
            m.batch_size.labels(topic).observe(sum(1 for r in records if r.topic == topic))


def backoff_delays(max_s: float) -> Callable[[], float]:
    """Capped exponential backoff with jitter; call to get the next delay, reset by re-creating."""
    state = {"n": 0}

    def next_delay() -> float:
        state["n"] += 1
        base = min(max_s, 0.1 * 2 ** min(state["n"], 20))
        return float(base * (0.5 + random.random() / 2))

    return next_delay


def subscribe(
    broker: KafkaBroker,
    consumer: EventConsumer,
    *,
    topics: Sequence[str],
    group_id: str,
    max_records: int,
    batch_timeout_ms: int,
    session_timeout_ms: int,
    max_backoff_s: float,
    health: Health,
    metrics: KernelMetrics,
    description: str,
) -> None:
    """Register the service's one batch subscriber: explicit group, manual ack after the commit."""

    async def raw(msg: Any) -> Any:
        # The kernel parses records itself (to dead-letter bad bytes); FastStream must not decode.
        return msg.body

    delays = {"next": backoff_delays(max_backoff_s)}
    # Test-only fault hook, off by default (tests/faults/): die like `kill -9` right after the n-th
    # batch's database commit and before its offset commit, the one window only the inbox covers.
    exit_after = int(os.environ.get("INCENTIVES_FAULT_EXIT_AFTER_COMMIT") or 0)
    commits = [0]

    @broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=raw,
        title=f"{group_id}:consume",
        description=description,
    )
    async def consume_batch(body: list[bytes], msg: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[Any, Any], ...] = msg.raw_message
        try:
            await consumer.handle_batch(records)
        except Exception as exc:
            # Transient or not, a batch that did not commit is never skipped: rewind and retry. A bug
            # that keeps failing stalls the partition (lag and /readyz show it) rather than lose events.
            reason = str(exc) if isinstance(exc, TransientFailure) else f"unexpected {type(exc).__name__}"
            health.set("consumer", False, reason)
            metrics.transient_failures.labels(records[0].topic).inc()
            delay = delays["next"]()
            log.warning(
                "batch rolled back, will retry",
                reason=reason,
                retry_in_s=round(delay, 2),
                records=len(records),
                exc_info=not isinstance(exc, TransientFailure),
            )
            await msg.nack()  # rewinds every partition of the batch to its first record
            await asyncio.sleep(delay)
            return
        commits[0] += 1
        if exit_after and commits[0] >= exit_after:
            os._exit(137)
        await msg.ack()
        delays["next"] = backoff_delays(max_backoff_s)
        health.set("consumer", True, "")
        _observe_lag(msg, records, metrics)


def _observe_lag(msg: KafkaMessage, records: Sequence[ConsumerRecord[Any, Any]], metrics: KernelMetrics) -> None:
    kafka_consumer = msg.consumer
    highwater = getattr(kafka_consumer, "highwater", None)
    if highwater is None:
        return
    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
    for (topic, partition), offset in last.items():
        hw = highwater(TopicPartition(topic, partition))
        if hw is not None:
            metrics.consumer_lag.labels(topic, str(partition)).set(max(0, hw - offset - 1))
