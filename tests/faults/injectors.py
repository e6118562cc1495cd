"""Fault injectors on the real processes: each does its harm, heals, and returns when it healed.

All of them act as an operator's bad day would: signals to the service processes and to the
broker, a restart of PostgreSQL, connections killed, a lock held on hot tables, a read-only role.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import asyncpg
import httpx
from incentives_ops.embedded import free_port
from incentives_ops.provision import runtime_role
from incentives_ops.services import SERVICES as INFO
from incentives_ops.topics_admin import create_topics

from tests.faults.harness import FaultRig
from tests.support import eventually, ready


async def restart_service(rig: FaultRig, name: str, sig: int, extra_env: dict[str, str] | None = None) -> int | None:
    """Stop `name` with `sig`, start it again (with `extra_env`), wait until it is ready; its exit code."""
    code = await asyncio.to_thread(rig.stack.stop_service, name, sig)
    rig.stack.start_service(name, extra_env)
    await eventually(lambda: ready(rig.info.urls[name]), timeout=120, what=f"{name} back")
    return code


async def crash_after_commit(rig: FaultRig, name: str, after_batches: int) -> int:
    """Run `name` with the test-only hook that exits right after a batch's DB commit, before its offset
    commit; wait for it to die, then start it normally. Returns the exit code of the crash."""
    await asyncio.to_thread(rig.stack.stop_service, name, signal.SIGTERM)
    proc = rig.stack.start_service(name, {"INCENTIVES_FAULT_EXIT_AFTER_COMMIT": str(after_batches)})
    code = await asyncio.to_thread(proc.wait, 120)
    rig.stack.start_service(name)
    await eventually(lambda: ready(rig.info.urls[name]), timeout=120, what=f"{name} back")
    return code


def _tansu_pid(rig: FaultRig) -> int:
    assert rig.stack.tansu is not None and rig.stack.tansu.pid is not None
    return rig.stack.tansu.pid


async def pause_broker(rig: FaultRig, seconds: float) -> None:
    os.kill(_tansu_pid(rig), signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(_tansu_pid(rig), signal.SIGCONT)


async def restart_broker(rig: FaultRig, down_s: float) -> None:
    """Stop Tansu and start it again on the same port: memory storage, so it comes back empty."""
    tansu = rig.stack.tansu
    assert tansu is not None
    await asyncio.to_thread(tansu.stop)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(tansu.start)
    await create_topics(rig.bootstrap)


async def reset_consumers_after_broker_loss(rig: FaultRig) -> None:
    """The services still hold read positions from the lost broker, and may already have committed
    them to the new one: on the new, empty partitions those positions would skip every record below
    them once the replay fills the partitions past them. So: stop the services, start the broker
    empty once more (forgetting any such commit), re-create the topics, start the services again."""
    names = list(rig.stack.procs)
    for name in names:
        await asyncio.to_thread(rig.stack.stop_service, name, signal.SIGTERM)
    await restart_broker(rig, 0)
    for name in names:
        rig.stack.start_service(name)
    for name in names:
        await eventually(lambda name=name: ready(rig.info.urls[name]), timeout=120, what=f"{name} back")


async def republish_outboxes(rig: FaultRig, since: float) -> int:
    """What an operator does after an empty broker comes back: publish again what the services
    published since `since` (epoch seconds); the stable ids make it a no-op where it had arrived."""
    conn = await asyncpg.connect(rig.dsn)
    try:
        total = 0
        for s in ("reports", "points", "rewards", "notify"):
            done = await conn.execute(
                f"""UPDATE {s}.outbox SET published_at = NULL
                    WHERE published_at IS NOT NULL AND created_at >= to_timestamp($1)""",
                since,
            )
            total += int(done.split()[-1])
        return total
    finally:
        await conn.close()


async def restart_database(rig: FaultRig, down_s: float) -> None:
    pg = rig.stack.pg
    assert pg is not None
    await asyncio.to_thread(pg.stop)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(pg.start)


async def kill_connections(rig: FaultRig, times: int, every_s: float) -> int:
    """pg_terminate_backend every service connection, `times` times; returns how many were killed."""
    killed = 0
    for _ in range(times):
        conn = await asyncpg.connect(rig.dsn)
        try:
            killed += len(
                await conn.fetch(
                    """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                       WHERE datname = $1 AND usename = ANY($2) AND pid <> pg_backend_pid()""",
                    rig.stack.opt.database,
                    [runtime_role(s) for s in INFO],  # the roles the services log in as
                )
            )
        finally:
            await conn.close()
        await asyncio.sleep(every_s)
    return killed


async def hold_hot_tables(rig: FaultRig, seconds: float) -> None:
    """A slow database: a session holds locks that block every write to the ledger and reports."""
    conn = await asyncpg.connect(rig.dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE points.member_balances, reports.reports IN EXCLUSIVE MODE")
            await asyncio.sleep(seconds)
    finally:
        await conn.close()


async def read_only(rig: FaultRig, roles: tuple[str, ...], seconds: float) -> None:
    """Make the services' sessions read-only (new and, by killing them, existing ones), then undo it."""
    conn = await asyncpg.connect(rig.dsn)
    database = rig.stack.opt.database
    try:
        for on in (True, False):
            for role in roles:
                action = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
                await conn.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" {action}')
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1) AND datname = $2",
                list(roles),
                database,
            )
            if on:
                await asyncio.sleep(seconds)
    finally:
        await conn.close()


def start_extra(rig: FaultRig, name: str) -> subprocess.Popen[bytes]:
    """Another replica of `name` in the same consumer group, on its own HTTP port."""
    env = {**rig.stack.service_env(name), f"{INFO[name].env_prefix}HTTP_PORT": str(free_port())}
    log = (rig.stack.logs / f"{name}-extra.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "incentives_ops.cli", "serve", name],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def rebalance_storm(rig: FaultRig, names: tuple[str, ...], cycles: int, hold_s: float) -> None:
    """Replicas join and leave the groups of `names` under load: each cycle two join, stay `hold_s`,
    then one leaves gracefully and one is killed."""
    for _ in range(cycles):
        extras = [start_extra(rig, n) for n in names for _ in range(2)]
        await asyncio.sleep(hold_s)
        for i, proc in enumerate(extras):
            proc.send_signal(signal.SIGTERM if i % 2 == 0 else signal.SIGKILL)
        for proc in extras:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(proc.wait, 40)
            if proc.poll() is None:
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)


def now() -> float:
    return time.monotonic()


async def transient_failures(rig: FaultRig) -> int:
    """Batches the four services rolled back and retried so far (proof that a fault did bite)."""
    total = 0.0
    async with httpx.AsyncClient(timeout=5) as http:
        for name in INFO:
            text = (await http.get(rig.info.urls[name] + "/metrics")).text
            for line in text.splitlines():
                if line.startswith(f"incentives_{name}_consumer_transient_failures_total{{"):
                    total += float(line.rsplit(" ", 1)[1])
    return int(total)
