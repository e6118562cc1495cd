"""Redemption requests decided on real PostgreSQL, many at once: exactly as many get a unit as there are
units, every other is stored refused with its steps and its event, an id is processed once, and a
per-member limit holds under concurrent requests (saga.request, each in its own transaction)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.uow import source_of, unit_of_work
from prometheus_client import CollectorRegistry
from rewards import saga
from rewards.metrics import RewardsMetrics
from rewards.saga import Deps
from rewards.settings import RewardsSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Asked:
    def __init__(self, redemption_id: str, member_id: str, reward_id: str) -> None:
        self.redemption_id, self.member_id, self.reward_id = redemption_id, member_id, reward_id


@pytest_asyncio.fixture(loop_scope="session")
async def db(scratch_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await make_pool(scratch_dsn, "rewards", min_size=2, max_size=12, application_name="redemption-requests")
    async with pool.acquire() as conn:
        await migrate(conn, "rewards", load_migrations(migrations_dir("rewards")))
        await conn.execute(
            """INSERT INTO members (member_id, district, occupation, registered_at, as_of, active)
               SELECT 'm-' || i, 'nanqu', 'courier', now(), now(), i <> 0 FROM generate_series(0, 39) AS i"""
        )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def deps(scratch_dsn: str) -> Deps:
    settings = RewardsSettings(database_url=scratch_dsn, kafka_bootstrap_servers="127.0.0.1:9", env="dev")
    return Deps(RewardsMetrics(CollectorRegistry()), settings)


async def new_reward(pool: asyncpg.Pool, reward_id: str, stock: int, **terms: Any) -> None:
    cols = {"reward_id": reward_id, "name": f"the {reward_id}", "kind": "instant", "cost_points": 30} | terms
    names = ", ".join(cols)
    marks = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    await pool.execute(f"INSERT INTO rewards ({names}, stock_available) VALUES ({marks}, {stock})", *cols.values())


async def request(pool: asyncpg.Pool, deps: Deps, asked: Asked) -> tuple[asyncpg.Record, bool]:
    async with unit_of_work(pool, source_of("rewards")) as uow:
        return await saga.request(uow, asked, via="http", deps=deps)


def outcome(row: asyncpg.Record) -> tuple[str, str | None]:
    return row["status"], row["reason"]


async def events(pool: asyncpg.Pool, redemption_ids: list[str]) -> Counter[str]:
    rows = await pool.fetch(
        """SELECT convert_from(value, 'UTF8')::jsonb ->> 'type' AS t FROM outbox
           WHERE convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'redemption_id' = ANY($1)
              OR convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'hold_id' IN
                 (SELECT hold_id FROM redemptions WHERE redemption_id = ANY($1))""",
        redemption_ids,
    )
    return Counter(r["t"] for r in rows)


async def test_n_concurrent_requests_for_k_units_reserve_exactly_k(db: asyncpg.Pool, deps: Deps) -> None:
    units, n = 7, 120
    await new_reward(db, "r-rush", units)
    ids = [f"rush-{i}" for i in range(n)]
    answers = await asyncio.gather(
        *(request(db, deps, Asked(rid, f"m-{1 + i % 39}", "r-rush")) for i, rid in enumerate(ids))
    )

    assert all(created for _, created in answers)
    got = Counter(outcome(row) for row, _ in answers)
    assert got == {("pending", None): units, ("rejected", "out_of_stock"): n - units}, got
    assert await db.fetchval("SELECT stock_available FROM rewards WHERE reward_id = 'r-rush'") == 0
    changes = await db.fetch("SELECT delta, reason, actor FROM stock_changes WHERE reward_id = 'r-rush'")
    reserved = {row["redemption_id"] for row, _ in answers if row["status"] == "pending"}
    assert sorted(c["actor"] for c in changes) == sorted(f"redemption:{r}" for r in reserved)
    assert {(c["delta"], c["reason"]) for c in changes} == {(-1, "reserved")}
    pending = await db.fetch("SELECT * FROM redemptions WHERE redemption_id = ANY($1)", list(reserved))
    assert all(p["step"] == "hold_requested" and p["stock_reserved"] and p["hold_id"] for p in pending)
    assert await db.fetchval("SELECT count(*) FROM holds WHERE redemption_id = ANY($1)", list(reserved)) == units
    # Every refusal is decided and explained, and says so once; every winner asks points for one hold.
    refused = await db.fetch("SELECT * FROM redemptions WHERE redemption_id = ANY($1) AND status = 'rejected'", ids)
    assert all(r["decided_at"] is not None and r["detail"] == "no units left" and r["step"] == "done" for r in refused)
    assert await events(db, ids) == {"redemption.rejected": n - units, "points.place_hold": units}
    steps = await db.fetch(
        """SELECT redemption_id, array_agg(step ORDER BY id) AS steps FROM redemption_steps
           WHERE redemption_id = ANY($1) GROUP BY 1""",
        ids,
    )
    paths = Counter(tuple(s["steps"]) for s in steps)
    assert paths == {
        ("requested", "stock_reserved", "hold_requested"): units,
        ("requested", "rejected"): n - units,
    }, paths


async def test_an_id_is_processed_once_even_when_it_arrives_twice_at_once(db: asyncpg.Pool, deps: Deps) -> None:
    await new_reward(db, "r-twice", 3)
    await new_reward(db, "r-none", 0)
    twice = [Asked("same-1", "m-1", "r-twice")] * 8 + [Asked("same-2", "m-2", "r-none")] * 8
    answers = await asyncio.gather(*(request(db, deps, a) for a in twice))

    assert sum(created for _, created in answers[:8]) == 1 and sum(created for _, created in answers[8:]) == 1
    assert {outcome(row) for row, _ in answers[:8]} == {("pending", None)}
    assert {outcome(row) for row, _ in answers[8:]} == {("rejected", "out_of_stock")}
    assert await db.fetchval("SELECT stock_available FROM rewards WHERE reward_id = 'r-twice'") == 2
    assert await db.fetchval("SELECT count(*) FROM stock_changes WHERE reward_id = 'r-twice'") == 1
    assert (
        await db.fetchval("SELECT count(*) FROM redemption_steps WHERE redemption_id IN ('same-1', 'same-2')") == 3 + 2
    )
    assert await events(db, ["same-1", "same-2"]) == {"points.place_hold": 1, "redemption.rejected": 1}
    # Asked again later: the stored answer, nothing new written.
    again, created = await request(db, deps, Asked("same-2", "m-2", "r-twice"))
    assert not created and again["reward_id"] == "r-none"
    assert await events(db, ["same-1", "same-2"]) == {"points.place_hold": 1, "redemption.rejected": 1}


async def test_eligibility_is_told_before_the_stock_and_the_limit_holds_under_concurrency(
    db: asyncpg.Pool, deps: Deps
) -> None:
    await new_reward(db, "r-empty", 0, min_star_level=2)
    row, _ = await request(db, deps, Asked("elig-1", "m-3", "r-empty"))
    assert outcome(row) == ("rejected", "not_eligible") and row["detail"] == "needs 2 stars; the member has 0"
    row, _ = await request(db, deps, Asked("elig-2", "m-0", "r-empty"))  # deactivated
    assert outcome(row) == ("rejected", "not_eligible")
    row, _ = await request(db, deps, Asked("elig-3", "nobody", "r-empty"))
    assert outcome(row) == ("rejected", "unknown_member") and row["cost_points"] == 30
    row, _ = await request(db, deps, Asked("elig-4", "m-3", "no-such-reward"))
    assert outcome(row) == ("rejected", "reward_inactive") and row["cost_points"] == 0

    await new_reward(db, "r-once", 50, per_member_limit=2)
    answers = await asyncio.gather(*(request(db, deps, Asked(f"lim-{i}", "m-4", "r-once")) for i in range(10)))
    got = Counter(outcome(row) for row, _ in answers)
    assert got == {("pending", None): 2, ("rejected", "limit_reached"): 8}, got
    assert await db.fetchval("SELECT stock_available FROM rewards WHERE reward_id = 'r-once'") == 48
