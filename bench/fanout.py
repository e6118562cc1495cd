"""M6: notification fan-out events/s (notify: points.credited in, notification stored and pushed out).

Registers M members and lets notify project them (then stops it), as a deployment has its members
long before their credits and as M1 does for points: otherwise most credits reach notify before
their member and go through parking and release, which is not fan-out (about a fifth of notify's
samples under py-spy, `bench.profile_points notify`). Then pre-fills incentives.points.v1 with N
points.credited events, starts notify again and measures, from its first stored notification, the
time until every one of the N notifications is stored and its notification.created is acknowledged
by the broker (its outbox row marked published). Beside it, same run: a bare aiokafka
consume -> produce loop copying the same N records to a scratch topic of the same partitions.

    uv run python -m bench.fanout [N] [M] [PROCESSES] [--cold]   # default 30000 events, 5000 members, 1 process
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from incentives_kernel import topics
from incentives_kernel.envelope import build_event, encode_event
from incentives_kernel.events import PointsCredited, SourceRef
from incentives_kernel.topics import TopicSpec
from incentives_ops.provision import _with
from incentives_ops.stack import Stack
from incentives_ops.topics_admin import create_topics

from bench.anchors import bench_stack, producer, raw_consume_produce_seconds, start_extra_service, stop_stack
from bench.measure import CpuMeter, machine, note, peak_rss_mb, stack_pids
from bench.points_ledger import register, wait_count
from bench.waits import until_true

SCRATCH = TopicSpec("incentives.bench.fanout", 6, 3_600_000, "member_id", "internal")


def credited(member: str, amount: int = 5) -> dict[str, object]:
    transfer = f"bt-{uuid.uuid4().hex[:16]}"
    data = PointsCredited(
        member_id=member,
        transfer_id=transfer,
        amount=amount,
        kind="report",
        ref=f"br-{transfer}",
        reason="report verified",
        rule_version="bench",
        balance=amount,
        source_event=SourceRef(source="/incentives/reports", id=str(uuid.uuid4())),
        occurred_at=datetime.now(UTC),
        earned_day=datetime.now(UTC).date(),
    )
    return build_event(
        event_id=transfer, source="/incentives/points", type="points.credited", subject=member, data=data
    )


def members_of(m: int) -> list[str]:
    return [f"fm-{i}" for i in range(m)]


async def prefill(bootstrap: str, n: int, m: int) -> None:
    members = members_of(m)
    p = producer(bootstrap, linger_ms=5)
    await p.start()
    try:
        acks = []
        for i in range(n):
            member = members[i % m]
            value, headers = encode_event(credited(member)), [("ce_type", b"points.credited")]
            acks.append(await p.send(topics.POINTS, value, key=member.encode(), headers=headers))
        await asyncio.gather(*acks)
    finally:
        await p.stop()


async def main(
    n: int = 30000,
    m: int = 5000,
    processes: int = 1,
    start_notify: Callable[[Stack], object] | None = None,
    *,
    cold: bool = False,
) -> dict[str, object]:
    """One M6 run; `start_notify` starts the (first) notify process another way (py-spy).

    `cold` (a probe, not M6): members and credits on their topics before notify starts, so most
    credits are parked until their member and then released: what that path costs.
    """
    stack = bench_stack()
    try:
        admin, bootstrap = await stack.start_infra()
        await create_topics(bootstrap, (*topics.ALL_TOPICS, SCRATCH))
        order = "members and credits before notify starts" if cold else "members projected by notify first"
        note(f"M6: {m} members, {n} points.credited events; {order}")
        await register(bootstrap, members_of(m), 20)
        if cold:
            await prefill(bootstrap, n, m)
        stack.opt.database_url, stack.opt.bootstrap = admin, bootstrap
        info = await stack.start(only=() if cold else ("notify",))
        db = _with(info.admin_dsn, database=stack.opt.database)
        conn = await asyncpg.connect(db)
        try:
            migrated = "SELECT to_regclass('notify.notifications') IS NOT NULL"
            if not cold:
                await until_true(lambda: conn.fetchval(migrated), "notify migrated")
                await wait_count(conn, "SELECT count(*) FROM notify.members", m, "notify projects the members")
                stack.stop_service("notify")
                await prefill(bootstrap, n, m)
            raw = n / await raw_consume_produce_seconds(bootstrap, topics.POINTS, SCRATCH.name, n)
            (start_notify or (lambda s: s.start_service("notify")))(stack)
            for k in range(2, processes + 1):  # scale-out: more notify processes in the same consumer group
                start_extra_service(stack, "notify", k)
            await until_true(lambda: conn.fetchval(migrated), "notify migrated")
            meter = CpuMeter(stack_pids(stack))
            # The CPU of the drain, not of the restarted process's imports and start-up.
            await until_true(lambda: conn.fetchval("SELECT EXISTS (SELECT FROM notify.notifications)"), "M6 started")
            meter.start()
            first, started, _ = await wait_count(conn, "SELECT count(*) FROM notify.notifications", n, "M6 stored")
            pushed = "SELECT count(*) FROM notify.outbox WHERE published_at IS NOT NULL AND topic = $1"
            _, _, ended = await wait_count(conn, pushed, n, "M6 pushed", topics.NOTIFICATIONS)
            meter.stop()
            rate = (n - first) / (ended - started) if first < n and ended > started else None
            pg_version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        rss = peak_rss_mb(stack.procs["notify"].pid)
    finally:
        await stop_stack(stack)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(pg_version),
        "events": n,
        "members": m,
        "processes": processes,
        "order": "cold" if cold else "members_first",
        # From the first stored notification to the last pushed, as M1 counts (the first seen not timed).
        "notifications_per_s": round(rate) if rate else None,
        "raw_consume_produce_msgs_per_s": round(raw),
        "ratio_to_raw": round(rate / raw, 3) if rate else None,
        "notify_peak_rss_mb": rss,
        "cpu_s_per_1000_events": meter.per_1000(n),
        "target_notifications_per_s": 5000,
    }


if __name__ == "__main__":
    from bench import lifecycle

    args = [int(a) for a in sys.argv[1:] if a.isdigit()]
    print(json.dumps(lifecycle.run(main(*args[:3], cold="--cold" in sys.argv)), indent=2))
