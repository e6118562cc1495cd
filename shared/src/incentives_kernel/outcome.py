"""What a use case imports: the shape of a use case and the ways it can end.

A use case is `async def verb_noun(uow: UnitOfWork, event: ParsedEvent) -> Outcome`. It ends by
returning `applied(...)` (it did what the event asks; the keys it names release events parked
waiting for them), `ignored("<why>")` (valid, nothing to do), or by raising `Park(awaiting, why)`
(it cannot be handled yet) or `PermanentError(reason, message)` (it never can: dead-lettered).
A `Batchable` use case can also take a run of events at once; its `many` returns `parked(...)`
where `one` would raise `Park`, and raises `OneByOne` where it cannot decide cheaply.

This module imports nothing of Kafka or PostgreSQL: the engine (engine.py) and its adapter
(kafka_adapter.py) do the consuming.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from .envelope import ParsedEvent
from .errors import PermanentError
from .uow import UnitOfWork

__all__ = [
    "APPLIED",
    "BatchUseCase",
    "Batchable",
    "OneByOne",
    "Outcome",
    "Park",
    "ParsedEvent",
    "PermanentError",
    "UnitOfWork",
    "UseCase",
    "applied",
    "ignored",
    "parked",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a use case did with an event, recorded in the inbox (`applied` needs no reason)."""

    kind: str = "applied"  # applied | ignored | parked
    reason: str | None = None
    releases: tuple[str, ...] = ()  # keys that parked events may be waiting for (`member:<id>`, ...)
    awaiting: str | None = None  # parked: what it waits for


APPLIED = Outcome()


def applied(*releases: str) -> Outcome:
    """Applied; `releases`: what it makes available to events parked waiting for it (`member:<id>`)."""
    return Outcome("applied", None, tuple(releases)) if releases else APPLIED


def ignored(reason: str) -> Outcome:
    return Outcome("ignored", reason)


def parked(awaiting: str, reason: str) -> Outcome:
    """For a `Batchable`'s `many`: this event waits for `awaiting`, as `one` raising `Park` would make it."""
    return Outcome("parked", reason, awaiting=awaiting)


class Park(Exception):
    """Raised by a use case: keep this event until `awaiting` is released (see parking.py)."""

    def __init__(self, awaiting: str, reason: str) -> None:
        super().__init__(reason)
        self.awaiting = awaiting
        self.reason = reason


UseCase = Callable[[UnitOfWork, ParsedEvent], Awaitable[Outcome]]
BatchUseCase = Callable[[UnitOfWork, Sequence[ParsedEvent]], Awaitable[Sequence[Outcome]]]


@dataclass(frozen=True, slots=True)
class Batchable:
    """A use case that can also take a run of consecutive events at once, with set-based SQL.

    `many` must have the effects of `one` applied to each event in order and return one outcome
    per event; where `one` would refuse or park any of them, or where it cannot tell cheaply,
    `many` raises `OneByOne` and the consumer redoes the batch event by event with `one`.
    """

    one: UseCase
    many: BatchUseCase

    async def __call__(self, uow: UnitOfWork, event: ParsedEvent) -> Outcome:
        return await self.one(uow, event)


class OneByOne(Exception):
    """Raised by a `Batchable`'s `many` (or the engine): redo this batch record by record."""
