"""The audit finds what it claims to find: a clean database passes, each planted violation fails its check."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from incentives_kernel.db import load_migrations, migrate, migrations_dir
from incentives_ops.audit import audit, render

from tests.conftest import Infra
from tests.support import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TRANSFER = """INSERT INTO points.transfers (transfer_id, debit_account, credit_account, amount, kind, member_id,
                                           rule_version, reason, source, source_event_id, occurred_at, ref, reverses)
              VALUES ($1, $2, $3, $4, $5, $6, 'v', 'why', $7, $8, now(), $9, $10)"""


@pytest_asyncio.fixture(loop_scope="session")
async def dsn(infra: Infra) -> AsyncIterator[str]:
    async with scratch_database(infra.admin_dsn, "audit") as url:
        conn = await asyncpg.connect(url)
        for service in ("reports", "points", "rewards", "notify"):
            await migrate(conn, service, load_migrations(migrations_dir(service)))
        await conn.close()
        yield url


async def credit(
    conn: asyncpg.Connection,
    tid: str,
    member: str,
    amount: int,
    *,
    kind: str = "report",
    ref: str | None = None,
    source_event: str | None = None,
    update_balance: bool = True,
) -> None:
    await conn.execute(
        TRANSFER,
        tid,
        "issuance:nanqu",
        f"member:{member}",
        amount,
        kind,
        member,
        "/src",
        source_event or tid,
        ref or tid,
        None,
    )
    await conn.execute(
        """INSERT INTO points.earned_by_day (member_id, day, earned) VALUES ($1, current_date, $2)
           ON CONFLICT (member_id, day) DO UPDATE SET earned = earned_by_day.earned + $2""",
        member,
        amount,
    )
    await conn.execute(
        """INSERT INTO points.period_totals (period, period_start, member_id, district, earned)
           VALUES ('all', '1970-01-01', $1, 'nanqu', $2)
           ON CONFLICT (period, period_start, member_id) DO UPDATE SET earned = period_totals.earned + $2""",
        member,
        amount,
    )
    if update_balance:
        await conn.execute(
            """INSERT INTO points.member_balances (member_id, credits) VALUES ($1, $2)
               ON CONFLICT (member_id) DO UPDATE SET credits = member_balances.credits + $2""",
            member,
            amount,
        )


def failed(results: list) -> set[str]:
    return {c.name for c in results if not c.ok}


async def test_a_consistent_ledger_passes(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await credit(conn, "t1", "m1", 10)
    await credit(conn, "t2", "m1", 5, kind="volunteer")
    await conn.close()
    results = await audit(dsn)
    assert failed(results) == set(), render(results)
    assert "verdict: PASS" in render(results)


async def test_each_planted_violation_fails_its_own_check(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await credit(conn, "drift", "m2", 7, update_balance=False)  # ledger and balance disagree
    await credit(conn, "twice-a", "m3", 5, ref="r-dup")  # one report earned twice
    await credit(conn, "twice-b", "m3", 5, ref="r-dup")
    await conn.execute("INSERT INTO points.member_balances (member_id, debits) VALUES ('m4', 3)")  # below zero
    await conn.execute("INSERT INTO points.daily_earnings (member_id, day, earned) VALUES ('m5', current_date, 80)")
    await conn.execute(
        """INSERT INTO points.inbox (consumer, source, event_id, topic, kafka_partition, kafka_offset, outcome)
           VALUES ('points', '/s', 'lost', 't', 0, 1, 'parked')"""
    )  # parked, but nothing kept
    await conn.close()
    results = await audit(dsn)
    assert failed(results) == {
        "points: balances equal the sums of their transfers",
        "points: one credit per report, rating and attendance",
        "points: no member below zero except through a reversal",
        "points: daily cap kept (report points per member and day <= the cap, and counted right)",
        "points: every event the inbox calls parked is kept",
    }, render(results)
    assert "verdict: FAIL" in render(results)
