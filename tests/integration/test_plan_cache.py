"""Points' batch lookup keeps using the ledger's index after the ledger grows from empty.

With PostgreSQL's default plan cache, a pooled connection switches to a generic plan after five runs
of a statement, costed on the statistics of that moment; on a new (or restored) database the ledger
is empty then, so `recorded` (transfer_id = ANY($1)) kept a sequential scan while the ledger grew:
450 ms a batch at 58,000 transfers in M2. Points' pools run with `force_custom_plan`; the control
case shows the trap is real on this PostgreSQL, so the first case cannot pass by accident.
"""

from __future__ import annotations

import pytest
from incentives_kernel.db import load_migrations, make_pool, migrate, migrations_dir
from points import repository
from points.settings import PointsSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

POINTS_MODE = PointsSettings.model_fields["db_plan_cache_mode"].default


async def scans_after_growth(dsn: str, mode: str) -> tuple[int, int]:
    """(sequential, index) scans of transfers by one `recorded` call once the ledger has grown."""
    pool = await make_pool(dsn, "points", min_size=1, max_size=1, application_name="plan-cache", plan_cache_mode=mode)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "points", load_migrations(migrations_dir("points")))
            # No autoanalyze mid-test: an ANALYZE would invalidate the cached plan and hide the trap.
            await conn.execute("ALTER TABLE transfers SET (autovacuum_enabled = off)")
            ids = [f"t-{i}" for i in range(60)]
            for _ in range(8):  # past the five custom plans after which "auto" may keep a generic one
                await repository.recorded(conn, ids, [])
            await conn.execute(
                """INSERT INTO transfers (transfer_id, debit_account, credit_account, amount, kind, member_id,
                                          rule_version, reason, source, source_event_id, occurred_at)
                   SELECT 'g-' || i, 'issuance', 'member:m-' || i, 1, 'earn', 'm-' || i,
                          'v1', 'test', '/test', 'e-' || i, now()
                   FROM generate_series(1, 30000) AS i"""
            )
            # pg_stat_xact_* also holds this backend's counts not yet flushed from earlier transactions:
            # the difference across the one call, inside one transaction (no flush happens there).
            scans = """SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables
                       WHERE schemaname = 'points' AND relname = 'transfers'"""
            async with conn.transaction():
                before = await conn.fetchrow(scans)
                found, _ = await repository.recorded(conn, [*ids[:59], "g-77"], [])
                after = await conn.fetchrow(scans)
            assert found == {"g-77"}
            return after["seq_scan"] - before["seq_scan"], after["idx_scan"] - before["idx_scan"]
    finally:
        await pool.close()


async def test_points_pools_plan_each_batch_on_the_ledger_as_it_is(scratch_dsn: str) -> None:
    assert POINTS_MODE == "force_custom_plan"
    seq, idx = await scans_after_growth(scratch_dsn, POINTS_MODE)
    assert seq == 0 and idx >= 1, f"{seq} sequential and {idx} index scans of a 30,000-row ledger"


async def test_control_the_default_plan_cache_keeps_the_empty_ledgers_plan(scratch_dsn: str) -> None:
    seq, idx = await scans_after_growth(scratch_dsn, "auto")
    assert (seq, idx) == (1, 0), "the trap this guards against did not occur: re-check the test's premise"
