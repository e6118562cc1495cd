"""The operator APIs every service gets (registered by `create_http_app`): its dead letters and parked events.

- `GET /v1/dead-letters`: what this service dead-lettered, per topic, newest first, with reason,
  service, time and the record with personal data masked. Kept in the service's own `dead_letters`
  table, which the engine writes beside the DLQ record's outbox row, in the transaction that
  dead-lettered the record: simpler and faster than reading Kafka, and exactly what this service's
  DLQ publisher wrote (kernel migration 0006, `Books.keep_dead_letter`).
- `POST /v1/dead-letters/{id}/replay` and `POST /v1/dead-letters/replay` (a filtered set): the
  record is handed to this service's own engine, marked with the authenticated replay marker
  (replay.py, as `incentives dlq replay` writes it), and goes the way a consumed record goes: the
  intake verifies the marker, the inbox reopens the dead-lettered event for this service only, the
  use case runs. Not re-published to Kafka: a service's principal may not write the topics it
  consumes (deploy/kafka/acl-init.sh), and only this service's dead letter is to be retried.
- `GET /v1/parked-events`: what each waits for, since when, when it gives up;
  `POST /v1/parked-events/release` runs one now as if what it awaits had arrived (it may park
  again), `POST /v1/parked-events/dead-letter` dead-letters it now.
- `GET /v1/operator-actions`: who replayed, released or dead-lettered what, and when.

Operator role only; lists keyset-paginated. No SQL here (operator_books.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from . import operator_books as books
from . import replay as replay_marker
from .auth import Caller, Role
from .engine import Delivery, EventConsumer, Handled, TransientFailure
from .errors import is_transient
from .http_errors import ApiError, errors
from .inbox import InboxKey
from .logging import SENSITIVE_KEYS, redact_text
from .outbox import decode_header
from .pagination import MAX_LIMIT, decode_cursor, encode_cursor

if TYPE_CHECKING:
    import asyncpg

    from .db import Conn
    from .runtime import ServiceRuntime

T = TypeVar("T")

MAX_REPLAY_SET = 100  # one request replays at most this many (each in its own transaction)


# ------------------------------------------------------------------------------------------ masking


def _sensitive(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SENSITIVE_KEYS


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and k.lower() in SENSITIVE_KEYS else _mask(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def masked_record(value: bytes | None) -> dict[str, Any] | None:
    """The record's CloudEvent with personal data masked (names, phones, identity numbers, addresses by
    key; phone and identity numbers by shape anywhere); None if it is not a JSON object."""
    if not value:
        return None
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return _mask(doc) if isinstance(doc, dict) else None


class EventSummary(BaseModel):
    id: str | None
    type: str | None
    source: str | None
    time: str | None


def _summary(record: dict[str, Any] | None) -> EventSummary | None:
    if record is None:
        return None

    def text(name: str) -> str | None:
        v = record.get(name)
        return v[:256] if isinstance(v, str) else None

    return EventSummary(id=text("id"), type=text("type"), source=text("source"), time=text("time"))


# ------------------------------------------------------------------------------------------ models


class DeadLetterOut(BaseModel):
    dead_letter_id: int
    topic: str = Field(description="the topic the record came from")
    dlq_topic: str
    reason: str = Field(description="the reason code (error.reason)")
    error_class: str
    message: str = Field(description="what was wrong (names fields and problems, never values)")
    service: str = Field(description="the service that dead-lettered it (error.service): this one")
    dead_lettered_at: datetime
    event: EventSummary | None = Field(description="id, type, source and time of the record, if it is a CloudEvent")
    record: dict[str, Any] | None = Field(
        description="the record (a CloudEvent) with personal data masked; null if not JSON or too large to keep"
    )
    record_bytes: int
    replay_count: int
    replayed_at: datetime | None
    replayed_by: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None


class ReplayResult(BaseModel):
    dead_letter_id: int
    outcome: str = Field(
        description="what came of it now: applied | ignored | parked | dead_lettered (again, `reason` says "
        "why; the same dead letter stays listed) | duplicate (this service had handled the event already: "
        "nothing was done)"
    )
    reason: str | None = None


class ReplayAnswer(BaseModel):
    replayed: list[ReplayResult]


class ReplaySetIn(BaseModel):
    topic: str = Field(min_length=1, max_length=249)
    reason: str | None = Field(default=None, max_length=64)
    dead_letter_ids: list[int] | None = Field(default=None, max_length=MAX_REPLAY_SET)
    dead_lettered_before: datetime | None = None
    include_replayed: bool = Field(default=False, description="also those replayed before")
    limit: int = Field(default=50, ge=1, le=MAX_REPLAY_SET)


class ParkedOut(BaseModel):
    source: str
    event_id: str
    type: str | None
    topic: str
    awaiting: str = Field(description="what it waits for: member:<id>, report:<id>, ...")
    reason: str
    parked_at: datetime
    gives_up_at: datetime = Field(description="when it is dead-lettered (parked_too_long) if still waiting")
    record: dict[str, Any] | None = Field(description="the record with personal data masked")


class ParkedPage(BaseModel):
    items: list[ParkedOut]
    next_cursor: str | None


class ParkedIn(BaseModel):
    source: str = Field(min_length=1, max_length=1024)
    event_id: str = Field(min_length=1, max_length=512)
    note: str | None = Field(default=None, max_length=500, description="why (dead-lettering only); masked")


class ParkedAnswer(BaseModel):
    source: str
    event_id: str
    outcome: str = Field(description="applied | ignored | parked | dead_lettered | duplicate")
    reason: str | None = None


class ActionOut(BaseModel):
    action_id: int
    acted_at: datetime
    actor: str
    action: str = Field(description="dead_letter.replay | parked.release | parked.dead_letter")
    target: str
    detail: str


class ActionPage(BaseModel):
    items: list[ActionOut]
    next_cursor: str | None


def _dead_letter_out(r: asyncpg.Record) -> DeadLetterOut:
    record = masked_record(r["value"])
    return DeadLetterOut(
        dead_letter_id=r["dead_letter_id"],
        topic=r["topic"],
        dlq_topic=r["dlq_topic"],
        reason=r["reason"],
        error_class=r["error_class"],
        message=redact_text(r["message"]),
        service=r["service"],
        dead_lettered_at=r["dead_lettered_at"],
        event=_summary(record),
        record=record,
        record_bytes=len(r["value"]),
        replay_count=r["replay_count"],
        replayed_at=r["replayed_at"],
        replayed_by=r["replayed_by"],
    )


def replay_delivery(r: asyncpg.Record, key: str, now: int) -> Delivery:
    """The dead letter as the record it was, its error headers dropped and the replay marker added."""
    headers = [decode_header(h) for h in r["headers"]]
    found = dict(headers)
    kept = [(k, v) for k, v in headers if not k.startswith(("error.", "original.", "x-"))]
    marker = replay_marker.mark(
        key,
        service=r["service"],
        topic=r["topic"],
        replayed_from=f"{r['dlq_topic']}/{r['service']}/{r['dead_letter_id']}",
        ts=now,
        value=r["value"],
    )

    def number(name: str) -> int:
        raw = found.get(name, b"0").decode(errors="replace")
        return int(raw) if raw.isdigit() else 0

    return Delivery(
        r["topic"], number("original.partition"), number("original.offset"), r["key"], r["value"], (*kept, *marker)
    )


# ------------------------------------------------------------------------------------------ routes


async def retryable(action: Awaitable[T]) -> T:
    """An operator's action on one event; 503 (nothing done, try again) where the consumer would retry:
    the database or broker unavailable, or an unexpected error in the use case (the consumer's count
    of attempts applies: after the last one the event is dead-lettered again, and that is the answer)."""
    try:
        return await action
    except TransientFailure as exc:
        raise ApiError(503, "unavailable", f"the event could not be handled now ({exc}); nothing was changed") from None
    except Exception as exc:
        if is_transient(exc):
            raise ApiError(503, "unavailable", f"{type(exc).__name__}; nothing was changed, try again") from None
        raise


def operator_router(runtime: ServiceRuntime) -> APIRouter:
    """The operator APIs of this service (operator role only)."""
    router = APIRouter(prefix="/v1", tags=["operations"], responses=errors(400, 401, 403, 413, 422))
    operator = runtime.require(Role.OPERATOR)
    service = runtime.service

    def consumer() -> EventConsumer:
        if runtime.consumer is None:
            raise ApiError(503, "unavailable", f"{service} consumes no topic")
        return runtime.consumer

    def replay_key() -> str:
        key = runtime.settings.replay_key.get_secret_value()
        if len(key) < replay_marker.MIN_KEY_LENGTH:
            raise ApiError(503, "unavailable", "replaying dead letters needs INCENTIVES_REPLAY_KEY")
        return key

    @router.get("/dead-letters", response_model=DeadLetterPage, dependencies=[operator])
    async def list_dead_letters(
        topic: str | None = Query(None, max_length=249, description="the topic the records came from"),
        reason: str | None = Query(None, max_length=64),
        replayed: bool | None = Query(None, description="only those replayed (true) or never replayed (false)"),
        before: datetime | None = Query(None, description="dead-lettered before this time"),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> DeadLetterPage:
        """The dead letters this service wrote, newest first, the records with personal data masked."""
        after = decode_cursor(cursor, int)
        f = books.DeadLetterFilter(topic=topic, reason=reason, replayed=replayed, before=before)
        async with runtime.pool.acquire() as conn:
            rows = await books.dead_letters_page(conn, f, after_id=after[0] if after else None, limit=limit + 1)
        nxt = encode_cursor([rows[limit - 1]["dead_letter_id"]]) if len(rows) > limit else None
        return DeadLetterPage(items=[_dead_letter_out(r) for r in rows[:limit]], next_cursor=nxt)

    async def replay_one(dead_letter_id: int, actor: str, key: str) -> ReplayResult | None:
        async def prepare(conn: Conn) -> Delivery | None:
            r = await books.lock_dead_letter(conn, dead_letter_id)
            if r is None:
                return None
            if not r["value"]:
                raise ApiError(409, "not_replayable", f"dead letter {dead_letter_id} kept no record (it was too large)")
            return replay_delivery(r, key, int(time.time()))

        async def audit(conn: Conn, done: Handled) -> None:
            await books.mark_replayed(conn, dead_letter_id, actor)
            detail = done.outcome + (f" ({done.reason})" if done.reason else "")
            await books.record_action(conn, actor, "dead_letter.replay", f"dead_letter:{dead_letter_id}", detail)

        done = await retryable(consumer().handle_now(prepare, audit))
        return (
            None
            if done is None
            else ReplayResult(dead_letter_id=dead_letter_id, outcome=done.outcome, reason=done.reason)
        )

    @router.post("/dead-letters/{dead_letter_id}/replay", response_model=ReplayAnswer, responses=errors(404, 409, 503))
    async def replay_dead_letter(dead_letter_id: int = Path(ge=1), caller: Caller = operator) -> ReplayAnswer:
        """Try one dead letter again, now, in this service (see the module's note); recorded with who and when."""
        done = await replay_one(dead_letter_id, caller.actor, replay_key())
        if done is None:
            raise ApiError(404, "not_found", f"no dead letter {dead_letter_id}")
        return ReplayAnswer(replayed=[done])

    @router.post("/dead-letters/replay", response_model=ReplayAnswer, responses=errors(503))
    async def replay_dead_letters(body: ReplaySetIn, caller: Caller = operator) -> ReplayAnswer:
        """Try a filtered set of one topic's dead letters again, oldest first, each in its own transaction."""
        key, actor = replay_key(), caller.actor
        f = books.DeadLetterFilter(
            topic=body.topic,
            reason=body.reason,
            replayed=None if body.include_replayed else False,
            before=body.dead_lettered_before,
            ids=body.dead_letter_ids,
        )
        async with runtime.pool.acquire() as conn:
            rows = await books.dead_letters_page(conn, f, after_id=None, limit=body.limit)
        results = []
        for r in sorted(rows, key=lambda r: r["dead_letter_id"]):
            if not r["value"]:  # too large to keep: nothing to replay (the single replay answers 409)
                continue
            done = await replay_one(r["dead_letter_id"], actor, key)
            if done is not None:
                results.append(done)
        return ReplayAnswer(replayed=results)

    @router.get("/parked-events", response_model=ParkedPage, dependencies=[operator])
    async def list_parked(
        awaiting: str | None = Query(None, max_length=256, description="only those waiting for this"),
        topic: str | None = Query(None, max_length=249),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        cursor: str | None = None,
    ) -> ParkedPage:
        """This service's parked events, the longest waiting first."""
        after = decode_cursor(cursor, datetime, str, str)
        grace = timedelta(seconds=runtime.settings.park_grace_s)
        async with runtime.pool.acquire() as conn:
            rows = await books.parked_page(
                conn,
                service,
                awaiting=awaiting,
                topic=topic,
                after=(after[0], after[1], after[2]) if after else None,
                limit=limit + 1,
            )
        items = []
        for r in rows[:limit]:
            record = masked_record(r["value"])
            summary = _summary(record)
            items.append(
                ParkedOut(
                    source=r["source"],
                    event_id=r["event_id"],
                    type=summary.type if summary else None,
                    topic=r["topic"],
                    awaiting=r["awaiting"],
                    reason=r["reason"],
                    parked_at=r["parked_at"],
                    gives_up_at=r["parked_at"] + grace,
                    record=record,
                )
            )
        last = rows[limit - 1] if len(rows) > limit else None
        nxt = encode_cursor([last["parked_at"].isoformat(), last["source"], last["event_id"]]) if last else None
        return ParkedPage(items=items, next_cursor=nxt)

    async def act(body: ParkedIn, caller: Caller, *, action: str, dead_letter: str | None) -> ParkedAnswer:
        key = InboxKey(service, body.source, body.event_id)
        actor = caller.actor

        async def take(conn: Conn) -> Any:
            return await books.take_parked_one(conn, key)

        async def audit(conn: Conn, done: Handled) -> None:
            detail = done.outcome + (f" ({done.reason})" if done.reason else "")
            await books.record_action(conn, actor, action, f"parked:{body.source} {body.event_id}", detail)

        done = await retryable(consumer().act_on_parked(take, audit, dead_letter=dead_letter))
        if done is None:
            raise ApiError(404, "not_found", "no such parked event (applied or dead-lettered meanwhile?)")
        return ParkedAnswer(source=body.source, event_id=body.event_id, outcome=done.outcome, reason=done.reason)

    @router.post("/parked-events/release", response_model=ParkedAnswer, responses=errors(404, 503))
    async def release_parked(body: ParkedIn, caller: Caller = operator) -> ParkedAnswer:
        """Run a parked event now, as if what it awaits had arrived (it parks again if that is still missing)."""
        return await act(body, caller, action="parked.release", dead_letter=None)

    @router.post("/parked-events/dead-letter", response_model=ParkedAnswer, responses=errors(404, 503))
    async def dead_letter_parked(body: ParkedIn, caller: Caller = operator) -> ParkedAnswer:
        """Dead-letter a parked event now (reason `dead_lettered_by_operator`), e.g. to fix and replay it."""
        note = redact_text(body.note or "no reason given")
        message = f"dead-lettered by {caller.actor} while parked: {note}"
        return await act(body, caller, action="parked.dead_letter", dead_letter=message)

    @router.get("/operator-actions", response_model=ActionPage, dependencies=[operator])
    async def list_actions(limit: int = Query(50, ge=1, le=MAX_LIMIT), cursor: str | None = None) -> ActionPage:
        """What operators did to this service's dead letters and parked events: who, when, what came of it."""
        after = decode_cursor(cursor, int)
        async with runtime.pool.acquire() as conn:
            rows = await books.actions_page(conn, after_id=after[0] if after else None, limit=limit + 1)
        items = [
            ActionOut(
                action_id=r["action_id"],
                acted_at=r["acted_at"],
                actor=r["actor"],
                action=r["action"],
                target=r["target"],
                detail=r["detail"],
            )
            for r in rows[:limit]
        ]
        nxt = encode_cursor([rows[limit - 1]["action_id"]]) if len(rows) > limit else None
        return ActionPage(items=items, next_cursor=nxt)

    return router
