"""M2: latency from publish to committed transfer and to inbox notification, under an open-loop load.

The points and notify services run on a ready embedded stack. A paced producer publishes one
report.verified per distinct member at a fixed rate (issue 19's M2: 1,000/s for 60 s), on a
schedule that never waits for the system: event i is due at t0 + i/rate and its latency is
measured from that due time, so a stall shows up as latency instead of slowing the load down (no
coordinated omission). "Committed" is observed with LISTEN: a row trigger added
for the benchmark on points.transfers and notify.notifications calls pg_notify, which PostgreSQL
delivers only when the inserting transaction commits. Times are read on one monotonic clock, in
this process.

With `steps`, one stack runs several rates in turn (the curve of p50/p99 against offered load).
Every wait has a deadline that names the members whose transfer or notification never arrived.

    uv run python -m bench.latency [RATE] [SECONDS]     # default 1000 events/s for 60 s
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.provision import _with

from bench import pgwork
from bench.anchors import bench_stack, producer, stop_stack
from bench.measure import CpuMeter, machine, note, peak_rss_mb, percentiles, stack_pids, step
from bench.points_ledger import register, verified
from bench.waits import describe, gather_all, until_count

SIGNAL = """
CREATE OR REPLACE FUNCTION public.bench_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], NEW.member_id);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_signal AFTER INSERT ON points.transfers
    FOR EACH ROW EXECUTE FUNCTION public.bench_signal('bench_transfer');
CREATE TRIGGER bench_signal AFTER INSERT ON notify.notifications
    FOR EACH ROW EXECUTE FUNCTION public.bench_signal('bench_notification');
"""


async def wait_members(conn: asyncpg.Connection, members: list[str]) -> None:
    for schema in ("points", "notify"):

        async def count(schema: str = schema) -> int:
            return int(await conn.fetchval(f"SELECT count(*) FROM {schema}.members WHERE member_id = ANY($1)", members))

        await until_count(count, len(members), f"{schema} projects {len(members)} members", stall_s=60)


async def _step(
    p: Any, seen: dict[str, dict[str, float]], members: list[str], rate: float, label: str
) -> tuple[dict[str, float], float]:
    """Publishes one report.verified per member at `rate`, open loop: (due time per member, t0)."""
    due: dict[str, float] = {}
    acks = []
    t0 = time.perf_counter() + 0.1
    with step(f"{label} open-loop publish", len(members)) as bar:
        for i, member in enumerate(members):
            due[member] = t0 + i / rate
            delay = due[member] - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # Not awaiting the ack here: the load keeps its schedule whatever the broker does.
            acks.append(await p.send(topics.REPORTS_LIFECYCLE, encode_event(verified(member)), key=member.encode()))
            if i % 50 == 0:
                bar.update(i)
        bar.update(len(members))
    await gather_all(f"{label}: publishing", *acks)  # a send the broker refused is reported, not lost

    def arrived() -> Awaitable[int]:
        async def n() -> int:
            return sum(1 for m in members if m in seen["bench_notification"] and m in seen["bench_transfer"])

        return n()

    async def missing() -> str:
        absent = [m for m in members if m not in seen["bench_transfer"]]
        quiet = [m for m in members if m not in seen["bench_notification"]]
        return describe(absent, len(members)) + "; without a notification: " + describe(quiet, len(members))

    await until_count(arrived, len(members), f"{label} waiting for notifications", stall_s=60, missing=missing)
    return due, t0


def _latencies(
    seen: dict[str, dict[str, float]], due: dict[str, float], t0: float, rate: float, seconds: float
) -> dict[str, Any]:
    members = list(due)
    to_ledger = [seen["bench_transfer"][m] - due[m] for m in members]
    to_inbox = [seen["bench_notification"][m] - due[m] for m in members]
    by_second: dict[int, list[float]] = {}
    for m in members:
        by_second.setdefault(int(due[m] - t0), []).append(seen["bench_transfer"][m] - due[m])
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "published": len(members),
        "publish_to_committed_transfer": percentiles(to_ledger),
        "publish_to_inbox_notification": percentiles(to_inbox),
        # p99 to the ledger per second of the schedule: rising when it queues (on Tansu, as its batches pile up).
        "ledger_latency_by_second": [{"second": sec, **percentiles(v)} for sec, v in sorted(by_second.items())],
        "missing_transfers": 0,
        "missing_notifications": 0,
    }


async def main(
    rate: float = 1000, seconds: float = 60, steps: list[tuple[float, float]] | None = None
) -> dict[str, Any]:
    """One stack; each (rate, seconds) step in turn (the curve), or one step at `rate` for `seconds`.

    Every step's members are distinct and registered (projected by both services) before the first
    step, so a step measures credits and notifications only.
    """
    plan = steps or [(rate, seconds)]
    counts = [max(1, int(r * s)) for r, s in plan]
    members = [[f"lm{k}-{i}" for i in range(c)] for k, c in enumerate(counts)]
    everyone = [m for ms in members for m in ms]
    stack = bench_stack()
    try:
        # pg_stat_statements and auto_explain, as M1 has them: a run whose PostgreSQL CPU per event
        # swings (0.37-0.65 s per 1,000 between identical runs) says which statements and autovacuums did it.
        admin, bootstrap = await stack.start_infra()
        await pgwork.enable_statements(stack, admin)
        stack.opt.database_url, stack.opt.bootstrap = admin, bootstrap
        info = await stack.start(only=("points", "notify"))
        await stack.wait_ready(timeout=120)
        db = _with(info.admin_dsn, database=stack.opt.database)
        await pgwork.create_extension(db)
        conn = await asyncpg.connect(db)
        listener = await asyncpg.connect(db)
        try:
            await conn.execute(SIGNAL)
            seen: dict[str, dict[str, float]] = {"bench_transfer": {}, "bench_notification": {}}

            def heard(_c: object, _pid: int, channel: str, member: str) -> None:
                seen[channel].setdefault(member, time.perf_counter())

            for channel in seen:
                await listener.add_listener(channel, heard)
            note(f"M2: registering {len(everyone)} members, then {len(plan)} open-loop step(s)")
            await register(info.bootstrap, [*everyone, "lm-warm"], 5)
            await wait_members(conn, [*everyone, "lm-warm"])
            p = producer(info.bootstrap, linger_ms=0)
            await p.start()
            results = []
            try:
                # Warm-up: both consumer groups assigned and the path exercised once before measuring.
                await p.send_and_wait(topics.REPORTS_LIFECYCLE, encode_event(verified("lm-warm")), key=b"lm-warm")
                await until_count(
                    lambda: _count_async(1 if "lm-warm" in seen["bench_notification"] else 0), 1, "M2 warm-up"
                )
                meter = CpuMeter(stack_pids(stack))
                before = await pgwork.snapshot(conn)
                log_from = pgwork.log_size(stack.pg.log) if stack.pg else 0
                meter.start()
                for (r, s), ms in zip(plan, members, strict=True):
                    due, t0 = await _step(p, seen, ms, r, f"M2 {r:.0f}/s")
                    results.append(_latencies(seen, due, t0, r, s))
                meter.stop()
                work = pgwork.work(before, await pgwork.snapshot(conn), len(everyone), schemas=("points", "notify"))
                plans = pgwork.slow_plans(stack.pg.log, log_from) if stack.pg else {}
            finally:
                await p.stop()
            pg_version = await conn.fetchval("SHOW server_version")
        finally:
            await listener.close()
            await conn.close()
        rss = {name: peak_rss_mb(proc.pid) for name, proc in stack.procs.items()}
    finally:
        await stop_stack(stack)
    out: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(pg_version),
        **results[0],
        "cpu_s_per_1000_events": meter.per_1000(len(everyone)),
        "peak_rss_mb": rss,
        "pg_work": {**pgwork.as_dict(work), "slow_plans": plans},
        "target_p99_ms_to_ledger": 50,
        "target_p99_ms_to_inbox": 100,
    }
    if steps:
        out["steps"] = results
    return out


async def _count_async(value: int) -> int:
    return value


if __name__ == "__main__":
    from bench import lifecycle

    r = float(sys.argv[1]) if len(sys.argv) > 1 else 1000
    s = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    print(json.dumps(lifecycle.run(main(r, s)), indent=2))
