"""The unit of work: one transaction, the events it emits, and what runs once it has committed.

Every write goes through one: the consumer's batch (engine.py), an HTTP route
(`async with runtime.unit_of_work() as uow:`), a background job. A use case reads and writes with
`uow.conn` (through its repository), publishes with `uow.emit(type, key, subject, data, id_from=...)`
(the topic follows from the type, the source is the service's) and counts its domain metrics with
`uow.after_commit(callback)`.

Emitted events are held and written to the outbox in one round trip just before the commit; a
savepoint that rolls back (`uow.savepoint()`) discards the events and callbacks registered inside
it. After the commit the relay is woken (once, and only if something was emitted), then the
callbacks run: a rolled back transaction publishes nothing and counts nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from . import outbox
from .envelope import derived_event_id
from .topics import topic_of

if TYPE_CHECKING:
    import asyncpg

    from .db import Conn

Writer = Callable[["Conn", Sequence[outbox.Row]], Awaitable[None]]


def source_of(service: str) -> str:
    """The CloudEvents `source` of every event a service emits."""
    return f"/incentives/{service}"


def _nothing() -> None:
    pass


class UnitOfWork:
    """A transaction's connection, the events it emits and its after-commit callbacks.

    Made by `unit_of_work` (or the consumer's engine), which owns the transaction: a use case never
    begins, commits or rolls back; it may open a savepoint with `savepoint()`.
    """

    def __init__(self, conn: Conn, source: str, *, write: Writer = outbox.write) -> None:
        self.conn = conn
        self.source = source
        self._write = write
        self._rows: list[outbox.Row] = []
        self._callbacks: list[Callable[[], None]] = []
        self._wrote = False

    def emit(
        self,
        type: str,
        key: str,
        subject: str | None,
        data: BaseModel,
        *,
        id_from: Sequence[str] = (),
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> None:
        """Publish an event if and only if this transaction commits.

        Its id is `derived_event_id(type, *id_from)`: derive it from what caused the event (or the
        business fact it records), so a redo emits the same id and consumers' inboxes drop the
        second; `event_id` gives a whole id instead. `time` is the business time of the event
        (default: now); a consumer may decide by it (points counts daily caps by the event's day).
        """
        if event_id is None:
            if not id_from:
                raise ValueError(f"{type}: an emitted event needs a stable id (id_from or event_id)")
            event_id = derived_event_id(type, *id_from)
        self._rows.append(
            outbox.event_row(
                topic=topic_of(type),
                key=key,
                source=self.source,
                type=type,
                subject=subject,
                data=data,
                event_id=event_id,
                time=time,
            )
        )

    def enqueue(self, row: outbox.Row) -> None:
        """A raw outbox row (the consumer's dead letters); services emit events with `emit`."""
        self._rows.append(row)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (domain metrics, waking a worker)."""
        self._callbacks.append(callback)

    @property
    def emitted(self) -> int:
        """Events and rows held for the outbox so far (not yet written)."""
        return len(self._rows)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A savepoint: if the block raises, its database changes, events and callbacks are undone."""
        rows, callbacks = len(self._rows), len(self._callbacks)
        try:
            async with self.conn.transaction():
                yield
        except BaseException:
            del self._rows[rows:]
            del self._callbacks[callbacks:]
            raise

    async def flush(self) -> None:
        """Write the held rows to the outbox (one round trip); the owner calls it just before COMMIT."""
        if self._rows:
            rows, self._rows = self._rows, []
            await self._write(self.conn, rows)
            self._wrote = True

    def committed(self, wake: Callable[[], None]) -> None:
        """The transaction committed: wake the relay if anything was written, then run the callbacks."""
        if self._wrote:
            wake()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


# Opens a unit of work: `async with work() as uow:` (runtime.unit_of_work, or `units_of_work(...)`).
Work = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


@contextlib.asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool, source: str, *, wake: Callable[[], None] = _nothing
) -> AsyncIterator[UnitOfWork]:
    """A connection from `pool` and a transaction around the block; commits if the block ends normally."""
    async with pool.acquire() as conn:
        uow = UnitOfWork(conn, source)
        async with conn.transaction():
            yield uow
            await uow.flush()
    uow.committed(wake)


def units_of_work(
    pool: asyncpg.Pool | Callable[[], asyncpg.Pool], source: str, *, wake: Callable[[], None] = _nothing
) -> Work:
    """A `Work` on `pool` (or the pool a callable returns when each unit begins)."""

    def work() -> AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(pool() if callable(pool) else pool, source, wake=wake)

    return work
