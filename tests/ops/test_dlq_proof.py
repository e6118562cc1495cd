"""`incentives dlq replay` re-publishes only what a service dead-lettered (kernel dead_letter_proof.py).

On the session's stack, with the real CLI as an operator runs it: a volunteer attendance for a member
nobody registered yet is dead-lettered by points (`parked_too_long`), with its proof. Beside it in
`incentives.volunteer.v1.dlq`, another client writes what a principal allowed to write that topic
could: a forged attendance dressed as a dead letter (no proof), the genuine dead letter's headers on
another value, and the genuine value with a header changed. In production the volunteer topic is
exclusive to the volunteer platform (tests/support.py EXCLUSIVE_TOPICS): whatever a replay writes
there counts as the platform's word, so a forged record that got through would mint points.

The replay re-publishes the genuine one (points credits it) and refuses the three, each with its
reason, exiting 1; none of them reaches the topic, and nobody is credited for them.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from incentives_kernel import dead_letter_proof, topics
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import attendance_confirmed, member_registered
from incentives_ops.stack import Stack

from tests.support import Api, balance_is, eventually, publish, read_topic, uid

TOPIC = topics.VOLUNTEER
DLQ = topics.dlq_topic(TOPIC)


async def write_dlq(bootstrap: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    """Write straight to the DLQ as any client with write access could; returns the record's offset."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        sent = await producer.send_and_wait(DLQ, value, key=key.encode(), headers=headers)
        return int(sent.offset)
    finally:
        await producer.stop()


async def replayed_from(bootstrap: str) -> set[str]:
    """Every `x-replayed-from` on the topic, read up to its end (what any replay ever wrote there)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or {0}]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: set[str] = set()
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.update(v.decode() for r in records for k, v in r.headers or () if k == "x-replayed-from")
        return found
    finally:
        await consumer.stop()


def with_header(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    """The headers with the last `name` (the engine's own) set to `value`."""
    at = max(i for i, (k, _) in enumerate(headers) if k == name)
    return [*headers[:at], (name, value), *headers[at + 1 :]]


def run_replay(stack: Stack) -> subprocess.CompletedProcess[str]:
    assert stack.info is not None
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.info.bootstrap,
        "INCENTIVES_ENV": "dev",
        "INCENTIVES_REPLAY_KEY": stack.info.replay_key,
    }
    return subprocess.run(
        [sys.executable, "-m", "incentives_ops.cli", "dlq", "replay", TOPIC],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.e2e
async def test_the_replay_re_publishes_a_services_dead_letter_and_refuses_forged_and_tampered_ones(
    stack: Stack,
) -> None:
    assert stack.info is not None
    bootstrap = stack.info.bootstrap
    points = Api(stack.info.urls["points"], stack.info.operator_token)
    try:
        late, forged_for, tampered_for = uid("m"), uid("m"), uid("m")
        # Two members the forgeries would credit, known to points before anything is replayed.
        for member in (forged_for, tampered_for):
            await publish(bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
            await eventually(lambda m=member: balance_is(points, m, 0), what=f"{member} known to points")

        # (a) A genuine dead letter: the attendance waits for its member in vain (PARK_GRACE_S).
        attendance = attendance_confirmed(late, 2)
        await publish(bootstrap, TOPIC, late, attendance)
        [genuine] = await read_topic(
            bootstrap, DLQ, lambda r: r.key == late.encode() and attendance["id"].encode() in r.value, timeout=60
        )
        headers = list(genuine.headers)
        assert dict(headers)["error.reason"] == b"parked_too_long"
        assert headers[-1][0] == dead_letter_proof.HEADER

        # (b) Forged: what a principal that may write the .dlq topic would put there (no proof).
        forged_headers = [
            ("error.class", b"PermanentError"),
            ("error.reason", b"parked_too_long"),
            ("error.message", b"waited for member"),
            ("error.service", b"points"),
            ("original.topic", TOPIC.encode()),
            ("original.partition", b"0"),
            ("original.offset", b"0"),
        ]
        forged = await write_dlq(bootstrap, late, encode_event(attendance_confirmed(forged_for, 5)), forged_headers)
        # (c) Tampered: the genuine dead letter's headers, proof included, on another value; and the
        # genuine value with a header the proof covers changed.
        other_value = await write_dlq(bootstrap, late, encode_event(attendance_confirmed(tampered_for, 5)), headers)
        other_header = await write_dlq(
            bootstrap, late, genuine.value, with_header(headers, "original.offset", str(genuine.offset + 1).encode())
        )
        await publish(bootstrap, topics.MEMBERS, late, member_registered(late, "nanqu"))  # the cause, fixed
        await eventually(lambda: balance_is(points, late, 0), what="the late member known to points")

        done = await asyncio.to_thread(run_replay, stack)

        assert done.returncode == 1, (done.stdout, done.stderr)
        refused = dict(re.findall(rf"^refused {re.escape(DLQ)}/0/(\d+): (\w+): ", done.stdout, re.MULTILINE))
        assert refused.get(str(forged)) == "no_proof", done.stdout
        assert refused.get(str(other_value)) == "bad_proof", done.stdout
        assert refused.get(str(other_header)) == "bad_proof", done.stdout
        assert str(genuine.offset) not in refused, done.stdout
        assert re.search(rf"^re-published [1-9]\d* dead letters to {re.escape(TOPIC)}; refused \d+ ", done.stdout, re.M)

        # The genuine one reached the topic and points credited it; the three never reached it.
        arrived = await replayed_from(bootstrap)
        assert f"{DLQ}/0/{genuine.offset}" in arrived
        assert not {f"{DLQ}/0/{o}" for o in (forged, other_value, other_header)} & arrived
        # Settled: a later attendance of the same key (same partition, so handled after anything the
        # replay wrote there) is credited on top of the replayed one, and nobody else got a point.
        await publish(bootstrap, TOPIC, late, attendance_confirmed(late, 1))
        await eventually(lambda: balance_is(points, late, 30), what="the replayed (20) and the later (10) credit")
        for member in (forged_for, tampered_for):
            assert await balance_is(points, member, 0), f"{member} was credited by a refused dead letter"
    finally:
        await points.aclose()
