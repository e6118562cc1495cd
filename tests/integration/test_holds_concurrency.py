"""Many concurrent holds against one member, each in its own transaction, never overdraw."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from incentives_kernel.envelope import build_event, encode_event, parse_event
from incentives_kernel.events import COMMAND_TYPES, PlaceHold
from incentives_kernel.uow import source_of, unit_of_work
from points import holds
from points.metrics import PointsMetrics
from points.usecases import Deps
from prometheus_client import CollectorRegistry

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_concurrent_holds_never_take_a_member_below_zero(scratch_dsn: str) -> None:
    dsn = scratch_dsn
    pool = await make_pool(dsn, "points", min_size=2, max_size=16, application_name="holds-test")
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "points", load_migrations(migrations_dir("points")))
            await conn.execute("""INSERT INTO members (member_id, district, occupation, registered_at, as_of)
                                  VALUES ('m-1', 'nanqu', 'courier', now(), now())""")
            await conn.execute("INSERT INTO member_balances (member_id, credits) VALUES ('m-1', 100)")
        deps = Deps(PointsMetrics(CollectorRegistry()), "Asia/Shanghai")

        async def place(i: int) -> None:
            data = PlaceHold(hold_id=f"h-{i}", member_id="m-1", amount=7, reason="race")
            raw = encode_event(
                build_event(
                    event_id=f"e-{i}",
                    source="/test",
                    type="points.place_hold",
                    subject="m-1",
                    data=data,
                    time=datetime.now(UTC),
                )
            )
            event = parse_event(raw, COMMAND_TYPES)
            async with unit_of_work(pool, source_of("points")) as uow:
                await holds.place_hold(uow, event, deps=deps)

        await asyncio.gather(*(place(i) for i in range(60)))
        async with pool.acquire() as conn:
            balance = await conn.fetchrow("SELECT credits, debits, held FROM member_balances WHERE member_id = 'm-1'")
            placed = await conn.fetchval("SELECT count(*) FROM holds WHERE status = 'pending'")
            replies = await conn.fetch("SELECT convert_from(value, 'UTF8')::jsonb->>'type' AS t FROM outbox")
    finally:
        await pool.close()
    assert placed == 100 // 7  # 14 holds of 7 fit into 100
    assert balance["held"] == placed * 7
    assert balance["credits"] - balance["debits"] - balance["held"] == 100 - 14 * 7 >= 0
    kinds = [r["t"] for r in replies]
    assert kinds.count("points.hold_placed") == 14 and kinds.count("points.hold_rejected") == 46
