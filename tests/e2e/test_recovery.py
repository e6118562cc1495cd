"""Transient failures are retried without committing, readiness says so, and nothing is lost or doubled.

Also: committed offsets never run ahead of committed effects, and dead letters can be replayed.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from incentives_kernel import topics
from incentives_ops.demo import member_registered, report_submitted, status_changed
from incentives_ops.dlq import replay
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.support import Api, balance_is, eventually, publish, read_topic, status_is, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def _admin(stack: Stack) -> asyncpg.Connection:
    assert stack.info is not None
    return await asyncpg.connect(_with(stack.info.admin_dsn, database=stack.opt.database))


async def _cut_off(conn: asyncpg.Connection, role: str, database: str, read_only: bool) -> None:
    """Make `role`'s sessions read-only (or normal again) and drop its connections so it reconnects."""
    action = "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"
    await conn.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" {action}')
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND datname = $2", role, database
    )


async def test_a_read_only_database_stalls_points_then_it_catches_up_exactly_once(stack: Stack) -> None:
    assert stack.info is not None
    points = Api(stack.info.urls["points"], stack.info.gateway_token)
    admin = await _admin(stack)
    role = urlsplit(stack.info.service_dsns["points"]).username or "points"  # the role the process runs as
    member, report = uid("m"), uid("r")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "beiqu"))
    await eventually(lambda: points.json_or_none(f"/v1/members/{member}/balance"), what="member known to points")
    try:
        await _cut_off(admin, role, stack.opt.database, read_only=True)
        await publish(
            stack.info.bootstrap,
            topics.REPORTS,
            report,
            report_submitted(report, member, "beiqu", "elderly_assistance"),
            status_changed(report, "beiqu", "accepted", "社区"),
        )

        async def consumer_stalled() -> dict[str, object] | None:
            r = await points.get("/readyz")
            return r.json() if r.status_code == 503 and "consumer" in r.json()["checks"] else None

        await eventually(consumer_stalled, what="points' consumer to stall and say so on /readyz")
        balance = (await points.get(f"/v1/members/{member}/balance")).json()
        assert balance["available"] == 0  # nothing applied, nothing committed past it
    finally:
        await _cut_off(admin, role, stack.opt.database, read_only=False)
        await admin.close()

    await eventually(lambda: _ok(points, "/readyz"), timeout=60, what="points ready again")
    await eventually(lambda: balance_is(points, member, 8), timeout=60, what="the stalled credit, once")
    await asyncio.sleep(1)
    ledger = (await points.get(f"/v1/members/{member}/ledger")).json()["items"]
    assert [(x["kind"], x["amount"]) for x in ledger] == [("report", 8)]
    metrics = (await points.get("/metrics")).text
    assert any(
        line.startswith("incentives_points_consumer_transient_failures_total{") and not line.endswith(" 0.0")
        for line in metrics.splitlines()
    )
    await points.aclose()


async def test_committed_offsets_never_run_ahead_of_committed_effects(stack: Stack) -> None:
    """For every partition, the group's committed offset is at most 1 + the last offset in the inbox."""
    assert stack.info is not None
    member = uid("m")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
    reports = Api(stack.info.urls["reports"], stack.info.gateway_token)
    marker = uid("r")
    await publish(stack.info.bootstrap, topics.REPORTS, marker, report_submitted(marker, member, "nanqu", "other"))
    await eventually(lambda: reports.json_or_none(f"/v1/reports/{marker}"), what="marker")
    await reports.aclose()

    committed = await _committed(stack.info.bootstrap, "reports", [topics.MEMBERS, topics.REPORTS])
    db = await _admin(stack)
    try:
        rows = await db.fetch(
            """SELECT topic, kafka_partition, max(kafka_offset) AS last FROM reports.inbox
               GROUP BY topic, kafka_partition"""
        )
    finally:
        await db.close()
    effects = {(r["topic"], r["kafka_partition"]): r["last"] for r in rows}
    checked = 0
    for tp, offset in committed.items():
        if offset < 0:
            continue
        assert offset <= effects.get((tp.topic, tp.partition), -1) + 1, (tp, offset)
        checked += 1
    assert checked > 0

    # And the group is caught up: the committed offset reaches the end of each partition.
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.info.bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([tp for tp in committed if tp.topic == topics.REPORTS])
    finally:
        await consumer.stop()

    async def caught_up() -> bool:
        now = await _committed(stack.info.bootstrap, "reports", [topics.REPORTS])  # type: ignore[union-attr]
        # An empty partition (end 0) has nothing to commit; every other one must be committed to its end.
        return all(max(now[tp], 0) >= end for tp, end in ends.items())

    assert await eventually(caught_up, what="the reports group to commit up to the end")


async def _committed(bootstrap: str, group: str, names: list[str]) -> dict[TopicPartition, int]:
    """The group's committed offsets (-1 where none), asked as a member of no generation would."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        out = {}
        for name in names:
            for p in consumer.partitions_for_topic(name) or set():
                tp = TopicPartition(name, p)
                out[tp] = await consumer.committed(tp) or -1
        return out
    finally:
        await consumer.stop()


async def test_dead_letters_can_be_replayed_once_their_cause_is_fixed(stack: Stack) -> None:
    """A status dead-lettered for waiting too long applies when replayed after its report arrived."""
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    reports = Api(stack.info.urls["reports"], stack.info.gateway_token)
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
    submitted = report_submitted(report, member, "nanqu", "other")  # dated before its status, sent after
    await publish(stack.info.bootstrap, topics.REPORTS, report, status_changed(report, "nanqu", "dispatched", "城管"))
    await read_topic(
        stack.info.bootstrap, topics.dlq_topic(topics.REPORTS), lambda r: r.key == report.encode(), timeout=40
    )
    await publish(stack.info.bootstrap, topics.REPORTS, report, submitted)
    await eventually(lambda: reports.json_or_none(f"/v1/reports/{report}"), what="the report")

    replayed = await replay(stack.info.bootstrap, topics.REPORTS, replay_key=stack.info.replay_key)
    assert report.encode() in [key for key, _ in replayed.replayed]
    assert not replayed.refused  # every dead letter of the e2e stack is a service's, with its proof
    shown = await eventually(lambda: status_is(reports, report, "dispatched"), what="the replayed status applied")
    assert [h["status"] for h in shown["history"]] == ["submitted", "dispatched"]
    again = await replay(stack.info.bootstrap, topics.REPORTS, replay_key=stack.info.replay_key)
    assert report.encode() not in [key for key, _ in again.replayed]  # the replay group remembers what it did
    await reports.aclose()


async def _ok(api: Api, path: str) -> bool:
    return (await api.get(path)).status_code == 200
