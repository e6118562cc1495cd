"""M6: notification fan-out events/s (notify: points.credited in, notification stored and pushed out).

Pre-fills incentives.members.v1 with M members and incentives.points.v1 with N points.credited
events, then starts only the notify service and measures, from its first stored notification, the
time until every one of the N notifications is stored and its notification.created is acknowledged
by the broker (its outbox row marked published). Beside it, same run: a bare aiokafka
consume -> produce loop copying the same N records to a scratch topic of the same partitions.

    uv run python -m bench.fanout [N] [M] [PROCESSES]     # default 10000 events, 5000 members, 1 process
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

import asyncpg
from incentives_kernel import topics
from incentives_kernel.envelope import build_event, encode_event
from incentives_kernel.events import PointsCredited, SourceRef
from incentives_kernel.topics import TopicSpec
from incentives_ops.provision import _with
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


async def prefill(bootstrap: str, n: int, m: int) -> None:
    members = [f"fm-{i}" for i in range(m)]
    await register(bootstrap, members, 20)
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


async def main(n: int = 10000, m: int = 5000, processes: int = 1) -> dict[str, object]:
    stack = bench_stack()
    try:
        admin, bootstrap = await stack.start_infra()
        await create_topics(bootstrap, (*topics.ALL_TOPICS, SCRATCH))
        note(f"M6: pre-filling {m} members and {n} points.credited events")
        await prefill(bootstrap, n, m)
        raw = n / await raw_consume_produce_seconds(bootstrap, topics.POINTS, SCRATCH.name, n)
        stack.opt.database_url, stack.opt.bootstrap = admin, bootstrap
        info = await stack.start(only=("notify",))
        for k in range(2, processes + 1):  # scale-out: more notify processes in the same consumer group
            start_extra_service(stack, "notify", k)
        db = _with(info.admin_dsn, database=stack.opt.database)
        meter = CpuMeter(stack_pids(stack))
        conn = await asyncpg.connect(db)
        try:
            await until_true(
                lambda: conn.fetchval("SELECT to_regclass('notify.notifications') IS NOT NULL"), "notify migrated"
            )
            meter.start()
            _, started, _ = await wait_count(conn, "SELECT count(*) FROM notify.notifications", n, "M6 stored")
            pushed = "SELECT count(*) FROM notify.outbox WHERE published_at IS NOT NULL AND topic = $1"
            _, _, ended = await wait_count(conn, pushed, n, "M6 pushed", topics.NOTIFICATIONS)
            meter.stop()
            took = ended - started
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
        "notifications_per_s": round(n / took) if took else None,
        "raw_consume_produce_msgs_per_s": round(raw),
        "ratio_to_raw": round((n / took) / raw, 3) if took else None,
        "notify_peak_rss_mb": rss,
        "cpu_s_per_1000_events": meter.per_1000(n),
        "target_notifications_per_s": 5000,
    }


if __name__ == "__main__":
    from bench import lifecycle

    args = [int(a) for a in sys.argv[1:4]]
    print(json.dumps(lifecycle.run(main(*args)), indent=2))
