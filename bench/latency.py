"""M2: latency from publish to committed transfer and to inbox notification, under an open-loop load.

The points and notify services run on a ready embedded stack. A paced producer publishes one
report.verified per distinct member at a fixed rate (half of M1's measured rate when run by
`python -m bench`), on a schedule that never waits for the system: event i is due at t0 + i/rate
and its latency is measured from that due time, so a stall shows up as latency instead of slowing
the load down (no coordinated omission). "Committed" is observed with LISTEN: a row trigger added
for the benchmark on points.transfers and notify.notifications calls pg_notify, which PostgreSQL
delivers only when the inserting transaction commits. Times are read on one monotonic clock, in
this process.

    uv run python -m bench.latency [RATE] [SECONDS]     # default 250 events/s for 20 s
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime

import asyncpg
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.provision import _with

from bench.anchors import bench_stack, producer, stop_stack
from bench.measure import CpuMeter, machine, note, peak_rss_mb, percentiles, stack_pids, step
from bench.points_ledger import register, verified

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
        while await conn.fetchval(f"SELECT count(*) FROM {schema}.members WHERE member_id = ANY($1)", members) < len(
            members
        ):
            await asyncio.sleep(0.2)


async def main(rate: float = 250, seconds: float = 20) -> dict[str, object]:
    count = max(1, int(rate * seconds))
    members = [f"lm-{i}" for i in range(count)]
    stack = bench_stack()
    try:
        info = await stack.start(only=("points", "notify"))
        await stack.wait_ready(timeout=120)
        db = _with(info.admin_dsn, database=stack.opt.database)
        conn = await asyncpg.connect(db)
        listener = await asyncpg.connect(db)
        try:
            await conn.execute(SIGNAL)
            seen: dict[str, dict[str, float]] = {"bench_transfer": {}, "bench_notification": {}}

            def heard(_c: object, _pid: int, channel: str, member: str) -> None:
                seen[channel].setdefault(member, time.perf_counter())

            for channel in seen:
                await listener.add_listener(channel, heard)
            note(f"M2: registering {count} members, then {rate:.0f} events/s for {seconds:.0f} s (open loop)")
            await register(info.bootstrap, [*members, "lm-warm"], 5)
            await wait_members(conn, [*members, "lm-warm"])
            p = producer(info.bootstrap, linger_ms=0)
            await p.start()
            try:
                # Warm-up: both consumer groups assigned and the path exercised once before measuring.
                await p.send_and_wait(topics.REPORTS_LIFECYCLE, encode_event(verified("lm-warm")), key=b"lm-warm")
                while "lm-warm" not in seen["bench_notification"]:
                    await asyncio.sleep(0.05)
                due: dict[str, float] = {}
                meter = CpuMeter(stack_pids(stack))
                meter.start()
                t0 = time.perf_counter() + 0.1
                with step("M2 open-loop publish", count) as bar:
                    for i, member in enumerate(members):
                        due[member] = t0 + i / rate
                        delay = due[member] - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        # Not awaiting the ack: the load keeps its schedule whatever the broker does.
                        await p.send(topics.REPORTS_LIFECYCLE, encode_event(verified(member)), key=member.encode())
                        if i % 50 == 0:
                            bar.update(i)
                    bar.update(count)
                deadline = time.perf_counter() + max(60.0, seconds * 3)
                with step("M2 waiting for notifications", count) as bar:
                    while time.perf_counter() < deadline:
                        got = sum(1 for m in members if m in seen["bench_notification"])
                        bar.update(got)
                        if got == count:
                            break
                        await asyncio.sleep(0.1)
                meter.stop()
            finally:
                await p.stop()
            pg_version = await conn.fetchval("SHOW server_version")
        finally:
            await listener.close()
            await conn.close()
        rss = {name: peak_rss_mb(proc.pid) for name, proc in stack.procs.items()}
    finally:
        await stop_stack(stack)
    to_ledger = [seen["bench_transfer"][m] - due[m] for m in members if m in seen["bench_transfer"]]
    to_inbox = [seen["bench_notification"][m] - due[m] for m in members if m in seen["bench_notification"]]
    # p99 to the ledger per second of the schedule: flat when the system keeps up, rising when it queues.
    by_second: dict[int, list[float]] = {}
    for m in members:
        if m in seen["bench_transfer"]:
            by_second.setdefault(int(due[m] - t0), []).append(seen["bench_transfer"][m] - due[m])
    timeline = [{"second": sec, **percentiles(v)} for sec, v in sorted(by_second.items())]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(pg_version),
        "rate_per_s": rate,
        "seconds": seconds,
        "published": count,
        "publish_to_committed_transfer": percentiles(to_ledger),
        "publish_to_inbox_notification": percentiles(to_inbox),
        "ledger_latency_by_second": timeline,
        "missing_transfers": count - len(to_ledger),
        "missing_notifications": count - len(to_inbox),
        "cpu_s_per_1000_events": meter.per_1000(count),
        "peak_rss_mb": rss,
        "target_p99_ms_to_ledger": 50,
    }


if __name__ == "__main__":
    r = float(sys.argv[1]) if len(sys.argv) > 1 else 250
    s = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    print(json.dumps(asyncio.run(main(r, s)), indent=2))
