"""The operator APIs' SQL (kernel operator_books.py) on a real PostgreSQL: dead letters kept once each,
filtered and paged newest first, purged after their retention; parked events paged and taken one by one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from incentives_kernel import operator_books as books
from incentives_kernel import parking
from incentives_kernel.db import load_migrations, make_pool, migrate
from incentives_kernel.inbox import InboxKey, Position
from incentives_kernel.outbox import row

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def pool(scratch_dsn: str, tmp_path: Path) -> AsyncIterator[asyncpg.Pool]:
    schema = f"s_{uuid.uuid4().hex[:12]}"
    p = await make_pool(scratch_dsn, schema, min_size=1, max_size=2, application_name="it-operator-books")
    try:
        async with p.acquire() as conn:
            await migrate(conn, schema, load_migrations(tmp_path))  # the kernel's migrations only
        yield p
    finally:
        await p.close()


def dead(n: int, topic: str = "incentives.reports.v1", reason: str = "not_resolved") -> books.DeadLetter:
    r = row(topic=topic + ".dlq", key=b"k", value=b'{"id": "e%d"}' % n, event_id=f"dlq-{n}", headers=[])
    return books.DeadLetter(r, topic, reason, "PermanentError", "why", "reports")


async def test_dead_letters_are_kept_once_filtered_paged_and_purged(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for n in range(5):
            await books.keep(conn, dead(n, reason="not_resolved" if n % 2 else "invalid_data"))
        await books.keep(conn, dead(0, reason="invalid_data"))  # the same dead letter again: kept once
        await books.keep(conn, dead(9, topic="incentives.members.v1"))
        everything = await books.dead_letters_page(conn, books.DeadLetterFilter(), after_id=None, limit=100)
        assert len(everything) == 6
        f = books.DeadLetterFilter(topic="incentives.reports.v1", reason="not_resolved")
        first = await books.dead_letters_page(conn, f, after_id=None, limit=1)
        rest = await books.dead_letters_page(conn, f, after_id=first[0]["dead_letter_id"], limit=10)
        assert [r["value"] for r in first + rest] == [b'{"id": "e3"}', b'{"id": "e1"}']  # newest first

        # An API replay that fails once more writes the same dead letter with the latest reason.
        await books.keep(conn, dead(4, reason="time_in_future"))
        again = await books.dead_letters_page(
            conn, books.DeadLetterFilter(reason="time_in_future"), after_id=None, limit=9
        )
        assert [r["value"] for r in again] == [b'{"id": "e4"}']

        one = first[0]["dead_letter_id"]
        await books.mark_replayed(conn, one, "operator:abc")
        replayed = await books.dead_letters_page(conn, books.DeadLetterFilter(replayed=True), after_id=None, limit=9)
        assert [(r["dead_letter_id"], r["replay_count"], r["replayed_by"]) for r in replayed] == [
            (one, 1, "operator:abc")
        ]

        await conn.execute(
            "UPDATE dead_letters SET dead_lettered_at = now() - interval '91 days' WHERE event_id = 'dlq-0'"
        )
        assert await books.purge_dead_letters(conn, 90) == 1
        assert await books.purge_dead_letters(conn, 90) == 0
        assert len(await books.dead_letters_page(conn, books.DeadLetterFilter(), after_id=None, limit=100)) == 5


async def test_parked_events_are_paged_oldest_first_and_taken_one_by_one(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for n in range(3):
            key = InboxKey("points", "/src", f"e{n}")
            await parking.park(conn, key, f"member:m{n % 2}", "waits", Position("t", 0, n), b"k", b"{}", (("h", b"v"),))
        first = await books.parked_page(conn, "points", awaiting=None, topic=None, after=None, limit=2)
        last = first[-1]
        after = (last["parked_at"], last["source"], last["event_id"])
        rest = await books.parked_page(conn, "points", awaiting=None, topic=None, after=after, limit=2)
        assert [r["event_id"] for r in first + rest] == ["e0", "e1", "e2"]
        only = await books.parked_page(conn, "points", awaiting="member:m1", topic=None, after=None, limit=9)
        assert [r["event_id"] for r in only] == ["e1"]
        assert await books.parked_page(conn, "rewards", awaiting=None, topic=None, after=None, limit=9) == []

        taken = await books.take_parked_one(conn, InboxKey("points", "/src", "e1"))
        assert taken is not None and taken.awaiting == "member:m1" and taken.headers == (("h", b"v"),)
        assert taken.position == Position("t", 0, 1)
        assert await books.take_parked_one(conn, InboxKey("points", "/src", "e1")) is None
