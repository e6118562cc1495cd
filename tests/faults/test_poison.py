"""Poison records mixed into the load: each is dead-lettered once per consumer of its topic, with
the contract's headers and a reason, and every consumer keeps going."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from incentives_kernel import topics
from incentives_ops.audit import SUBSCRIPTIONS

from tests.faults.harness import FaultRig
from tests.faults.load import Sender
from tests.faults.poison import explicit, generated, oversized
from tests.support import eventually

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="session")]


async def dead_letters(bootstrap: str, topic: str) -> dict[tuple[str, int, int, str], dict[str, str]]:
    """Every record of `topic`'s DLQ, by (original topic, partition, offset, service): its headers."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topics.dlq_topic(topic), 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        found: dict[tuple[str, int, int, str], dict[str, str]] = {}
        while await consumer.position(tp) < end:
            for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                h = {k: v.decode(errors="replace") for k, v in r.headers}
                where = (h["original.topic"], int(h["original.partition"]), int(h["original.offset"]))
                found[(*where, h["error.service"])] = h
        return found
    finally:
        await consumer.stop()


async def test_poison_records_are_dead_lettered_and_consumers_keep_going(rig: FaultRig) -> None:
    n = 40 if rig.scale.name == "ci" else 300
    fault = f"{n} Hypothesis poison records + 4 fixed (not JSON, wrong types, unknown enums, huge, control chars)"
    h = rig.history(fault)
    bad = generated(n, seed=2026) + explicit()
    rnd = random.Random(11)
    mixed = list(h.records)
    for record in bad:
        mixed.insert(rnd.randrange(len(mixed) + 1), record)
    h.records.extend(bad)
    await rig.under_load(fault, lambda: asyncio.sleep(0), h=h, records=mixed)

    assert all(proc.poll() is None for proc in rig.stack.procs.values())  # nobody died of it
    for topic in (topics.MEMBERS, topics.REPORTS):
        letters = await dead_letters(rig.bootstrap, topic)
        for record in (r for r in bad if r.topic == topic):
            assert record.landed is not None
            for service, subscribed in SUBSCRIPTIONS.items():
                if topic not in subscribed:
                    continue
                headers = letters.get((topic, *record.landed, service))
                assert headers is not None, (service, record.key, record.landed)
                assert headers["error.class"] and headers["error.reason"] and headers["error.message"], headers


async def test_a_record_over_1_mib_is_dead_lettered_and_the_outbox_keeps_flowing(rig: FaultRig) -> None:
    """Its dead letter keeps the size and digest, not the value: a value that large could never be
    published, and would block every outbox row behind it."""
    h = rig.history("one record over 1 MiB", events=60)
    big = oversized()
    half = len(h.records) // 2
    records = [*h.records[:half], big, *h.records[half:]]
    h.records.append(big)
    await Sender(rig.bootstrap).send(h, records)
    assert big.landed is not None
    partition, offset = big.landed

    async def dead_lettered() -> bool:
        conn = await asyncpg.connect(rig.dsn)
        try:
            return bool(
                await conn.fetchval(
                    """SELECT count(*) FROM reports.inbox WHERE topic = $1 AND kafka_partition = $2
                       AND kafka_offset = $3 AND outcome = 'dead_lettered'""",
                    topics.REPORTS,
                    partition,
                    offset,
                )
            )
        finally:
            await conn.close()

    await eventually(dead_lettered, timeout=60, what="reports to dead-letter the big record")

    async def relayed() -> bool:
        conn = await asyncpg.connect(rig.dsn)
        try:
            return not await conn.fetchval("SELECT count(*) FROM reports.outbox WHERE published_at IS NULL")
        finally:
            await conn.close()

    await eventually(relayed, timeout=30, what="reports' outbox relayed, its dead letter included")
    assert (topics.REPORTS, partition, offset, "reports") in await dead_letters(rig.bootstrap, topics.REPORTS)
