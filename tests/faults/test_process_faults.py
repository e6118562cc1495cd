"""Service processes die, stop and multiply under load; nothing is lost or done twice."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from tests.faults.harness import FaultRig
from tests.faults.injectors import crash_after_commit, rebalance_storm, restart_service

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="session")]

SERVICES = ("reports", "points", "rewards", "notify")


async def test_kill_9_of_each_service_mid_batch(rig: FaultRig) -> None:
    async def kill_each() -> None:
        for name in SERVICES:
            assert await restart_service(rig, name, signal.SIGKILL) == -signal.SIGKILL

    await rig.under_load("kill -9 of each service, in turn", kill_each, duration_s=max(rig.scale.duration_s, 20))


async def test_crash_between_the_database_commit_and_the_offset_commit(rig: FaultRig) -> None:
    """The test-only hook: each service exits right after its first batch commits, before the ack, so
    that batch is delivered again; the inbox must make the second delivery a no-op."""

    async def crash_all() -> None:
        codes = await asyncio.gather(*(crash_after_commit(rig, name, after_batches=1) for name in SERVICES))
        assert codes == [137] * len(SERVICES)

    await rig.under_load("exit between DB commit and offset commit (all four)", crash_all, duration_s=20)


async def test_sigterm_under_load_is_graceful(rig: FaultRig) -> None:
    """Stopped with SIGTERM, a service finishes and commits its batch within its grace (it is not
    killed), and its successor has nothing to skip as a redelivery."""

    async def stop_each() -> None:
        for name in SERVICES:
            # uvicorn re-raises the signal it shut down on, so a clean stop ends "killed by SIGTERM";
            # stop_service would SIGKILL a process still running after 30 s.
            assert await restart_service(rig, name, signal.SIGTERM) in (0, -signal.SIGTERM), name

    await rig.under_load("SIGTERM of each service, in turn", stop_each, duration_s=max(rig.scale.duration_s, 20))
    async with httpx.AsyncClient(timeout=5) as http:
        for name in SERVICES:
            metrics = (await http.get(rig.info.urls[name] + "/metrics")).text
            skipped = [
                line
                for line in metrics.splitlines()
                if line.startswith(f"incentives_{name}_duplicate_events_skipped_total{{") and not line.endswith(" 0.0")
            ]
            assert not skipped, (name, skipped)


async def test_rebalance_storm(rig: FaultRig) -> None:
    """Replicas join and leave the reports and points groups while the load flows."""
    hold = 8.0
    cycles = rig.scale.storm_cycles
    await rig.under_load(
        f"rebalance storm ({cycles} cycles of 2 replicas joining reports and points, then leaving)",
        lambda: rebalance_storm(rig, ("reports", "points"), cycles, hold),
        duration_s=cycles * (hold + 4),
    )
