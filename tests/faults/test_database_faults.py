"""PostgreSQL restarts, loses connections, slows down and turns read-only under load."""

from __future__ import annotations

import pytest
from incentives_ops.provision import runtime_role

from tests.faults.harness import FaultRig
from tests.faults.injectors import hold_hot_tables, kill_connections, read_only, restart_database, transient_failures

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="session")]


async def test_postgres_restart(rig: FaultRig) -> None:
    down = rig.scale.outage_s
    before = await transient_failures(rig)
    await rig.under_load(f"PostgreSQL stopped for {down:.0f} s, then started", lambda: restart_database(rig, down))
    assert await transient_failures(rig) > before  # the consumers did hit it, and retried


async def test_service_connections_killed_mid_load(rig: FaultRig) -> None:
    async def kill() -> None:
        assert await kill_connections(rig, times=3, every_s=1.0) > 0

    await rig.under_load("every service connection terminated, 3 times 1 s apart", kill)


async def test_slow_database(rig: FaultRig) -> None:
    """A session holds locks that block every write to the ledger's balances and to reports."""
    held = rig.scale.outage_s * 2
    await rig.under_load(f"lock held on hot tables for {held:.0f} s", lambda: hold_hot_tables(rig, held))


async def test_read_only_database(rig: FaultRig) -> None:
    held = rig.scale.outage_s * 2
    roles = tuple(runtime_role(s) for s in ("reports", "points", "rewards", "notify"))  # what they log in as
    before = await transient_failures(rig)
    await rig.under_load(f"database read-only for every service for {held:.0f} s", lambda: read_only(rig, roles, held))
    assert await transient_failures(rig) > before
