"""The fault suite's checks find what they claim to: planted losses, skips and rollbacks fail them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from incentives_kernel import topics
from incentives_kernel.db import load_migrations, migrate, migrations_dir
from incentives_kernel.topics import TopicSpec
from incentives_ops.audit import Sent, audit, check_history
from incentives_ops.consumer_offsets import offset_checks
from incentives_ops.topics_admin import create_topics

from tests.conftest import Infra
from tests.support import scratch_database, uid

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

INBOX = """INSERT INTO {s}.inbox (consumer, source, event_id, event_type, topic, kafka_partition, kafka_offset,
                                  outcome, reason)
           VALUES ($1, $2, $3, 't', $4, $5, $6, $7, $8)"""


@pytest_asyncio.fixture(loop_scope="session")
async def dsn(infra: Infra) -> AsyncIterator[str]:
    async with scratch_database(infra.admin_dsn, "faultchecks") as url:
        conn = await asyncpg.connect(url)
        for service in ("reports", "points", "rewards", "notify"):
            await migrate(conn, service, load_migrations(migrations_dir(service)))
        await conn.close()
        yield url


def failed(results: list) -> set[str]:
    return {c.name for c in results if not c.ok}


async def test_history_check_counts_lost_unfinished_and_applied_poison(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for s in ("reports", "points", "rewards", "notify"):  # a registration every service has
            await conn.execute(INBOX.format(s=s), s, "/src", "seen", topics.MEMBERS, 0, 1, "applied", None)
        await conn.execute(INBOX.format(s="reports"), "reports", "/src", "waits", topics.REPORTS, 0, 2, "parked", "r")
        poison_at = ("kafka:x", "0/3", topics.REPORTS, 0, 3)
        await conn.execute(INBOX.format(s="reports"), "reports", *poison_at, "applied", None)
    finally:
        await conn.close()
    verdict = await check_history(
        dsn,
        [
            Sent(topics.MEMBERS, "/src", "seen"),
            Sent(topics.VOLUNTEER, "/src", "never-seen"),  # points reads volunteering: lost there
            Sent(topics.REPORTS, "/src", "waits"),
            Sent(topics.REPORTS, "", "", 0, 3, poison=True),  # at a position whose outcome is applied
        ],
    )
    assert verdict.checked == 4 + 1 + 1 + 1
    assert verdict.lost == ["points: /src#never-seen"]
    assert verdict.unfinished == ["reports: /src#waits (parked)"]
    assert verdict.poison_applied == ["reports: # (applied)"]
    assert not verdict.ok


async def test_new_audit_checks_fail_on_planted_violations(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(INBOX.format(s="points"), "points", "/s", "quiet", topics.VOLUNTEER, 0, 1, "ignored", None)
        await conn.execute(
            """INSERT INTO reports.reports (report_id, member_id, category, lat, lon, cell_lat, cell_lon, submitted_at,
                                            due_at, status)
               VALUES ('r1', 'm1', 'other', 0, 0, 0, 0, now(), now(), 'dispatched')"""
        )
        for i, status in enumerate(("submitted", "accepted", "dispatched")):  # went back
            await conn.execute(
                """INSERT INTO reports.report_status_history (report_id, status, changed_at, event_source, event_id)
                   VALUES ('r1', $1, now(), '/s', $2)""",
                status,
                f"e{i}",
            )
        for nid in ("n1", "n2"):  # the same cause told twice on one channel
            await conn.execute(
                """INSERT INTO notify.notifications
                       (notification_id, member_id, kind, locale, title, body, source_event)
                   VALUES ($1, 'm1', 'points', 'en', 't', 'b', '/s#e1')""",
                nid,
            )
        await conn.execute("INSERT INTO points.outbox (event_id, topic, value) VALUES ('o', 't', 'v')")
    finally:
        await conn.close()
    assert {
        "points: every event not applied says why (ignored or dead-lettered with a reason)",
        "reports: a report's or need's status moves only as the state machine allows (a stale status never rolls it "
        "back)",
        "notify: one notification per cause, member and channel",
        "points: every committed outbox row is published (after the grace)",
    } <= failed(await audit(dsn, settle_s=0))
    assert "points: every committed outbox row is published (after the grace)" not in failed(await audit(dsn))


async def test_offsets_ahead_of_the_inbox_are_found(infra: Infra, dsn: str) -> None:
    """A group that committed past a record its inbox never saw has skipped it."""
    topic, group = uid("faultcheck"), "points"
    await create_topics(infra.bootstrap, (TopicSpec(topic, 1, 3_600_000, "k", "internal"),))
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, b'{"source": "/s", "id": "%d"}' % i, partition=0)
    finally:
        await producer.stop()
    conn = await asyncpg.connect(dsn)
    try:
        for i in range(2):
            await conn.execute(INBOX.format(s="points"), "points", "/s", str(i), topic, 0, i, "applied", None)
        group = f"faultcheck-{uid('g')}"
        await conn.execute(f'CREATE SCHEMA "{group}"')
        await conn.execute(f'CREATE TABLE "{group}".inbox (LIKE points.inbox INCLUDING DEFAULTS)')
        await conn.execute(f'INSERT INTO "{group}".inbox SELECT * FROM points.inbox')
        await conn.execute(f'UPDATE "{group}".inbox SET consumer = $1', group)
        consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.commit({TopicPartition(topic, 0): 3})  # past offset 2, which no inbox has
        finally:
            await consumer.stop()
        found = await offset_checks(conn, infra.bootstrap, {group: (topic,)}, settled=True)
        assert [len(examples) for _, _, examples in found] == [1, 0], found
        await conn.execute(
            f'INSERT INTO "{group}".inbox (consumer, source, event_id, topic, kafka_partition, kafka_offset) '
            "VALUES ($1, '/s', '2', $2, 0, 2)",
            group,
            topic,
        )
        found = await offset_checks(conn, infra.bootstrap, {group: (topic,)}, settled=True)
        assert [len(examples) for _, _, examples in found] == [0, 0], found
    finally:
        await conn.close()
