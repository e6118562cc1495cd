"""Re-publishing dead letters to their original topic, once the cause is fixed.

The value and key are re-published unchanged (the CloudEvent keeps its id, its signature headers
stay); the error.* headers are dropped and a replay marker (kernel replay.py) records where it came
from and for which service (the dead letter's `error.service`), authenticated with the operators'
INCENTIVES_REPLAY_KEY. The marker is what lets that service try an event its inbox marks
dead-lettered once more, with its original (by now old) signature; an event that was in fact applied
meanwhile is still a duplicate. Without the key no marker can be made, and a marker that does not
authenticate is dead-lettered by every consumer. A consumer group remembers what was replayed.
"""

from __future__ import annotations

import os
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from incentives_kernel import replay as replay_marker
from incentives_kernel.topics import dlq_topic

from .topics_admin import sasl_from_env

REPLAY_GROUP = "incentives-dlq-replay"
NO_PROGRESS_S = 60.0


async def replay(
    bootstrap: str,
    topic: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    replay_key: str | None = None,
    idempotent: bool = False,
) -> list[tuple[bytes | None, int]]:
    """Re-publish dead letters of `topic`; returns (key, DLQ offset) of each one re-published.

    `replay_key`: the services' INCENTIVES_REPLAY_KEY (read from the environment when not given).
    `idempotent`: an idempotent producer (the CLI asks for one except against the dev broker).
    """
    key = replay_key if replay_key is not None else os.environ.get("INCENTIVES_REPLAY_KEY", "")
    if not dry_run and len(key) < replay_marker.MIN_KEY_LENGTH:
        raise ValueError(
            "INCENTIVES_REPLAY_KEY (the services' own, >= 32 characters) is required to replay dead letters"
        )
    source = dlq_topic(topic)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=REPLAY_GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **sasl_from_env(),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        **sasl_from_env(),
    )
    await consumer.start()
    await producer.start()
    replayed: list[tuple[bytes | None, int]] = []
    try:
        # Only what was dead-lettered before we started: an event that fails again is dead-lettered
        # again, and replaying that too would feed the DLQ back into its topic for ever. Metadata is
        # fetched first: without it the topic's partitions are unknown and only partition 0 would count.
        await consumer.topics()
        partitions = [TopicPartition(source, p) for p in sorted(consumer.partitions_for_topic(source) or {0})]
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end > 0}
        if not ends:
            return replayed
        waited = 0.0
        # Done when every partition that had dead letters is read up to where it ended; a stall of
        # NO_PROGRESS_S (the broker gone) ends the replay with what was re-published so far.
        while (limit is None or len(replayed) < limit) and waited < NO_PROGRESS_S:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            waited = 0.0 if batch else waited + 1.0  # empty polls also cover the first assignment (~5 s on Tansu)
            done: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                for r in records:
                    if (limit is not None and len(replayed) >= limit) or r.offset >= ends.get(tp, 0):
                        break
                    kept = r.headers or ()
                    service = next((v.decode() for k, v in kept if k == "error.service"), "")
                    headers = [(k, v) for k, v in kept if not k.startswith(("error.", "original.", "x-"))]
                    if not dry_run:
                        headers += replay_marker.mark(
                            key,
                            service=service,
                            topic=topic,
                            replayed_from=f"{source}/{tp.partition}/{r.offset}",
                            ts=int(time.time()),
                            value=r.value,
                        )
                    if not dry_run:
                        await producer.send_and_wait(topic, r.value, key=r.key, headers=headers)
                    replayed.append((r.key, r.offset))
                    done[tp] = r.offset + 1
            if not dry_run and done:
                await consumer.commit(done)  # positions of what was re-published, not of all fetched
            assigned = consumer.assignment()
            if all(tp in assigned for tp in ends) and all(
                [await consumer.position(tp) >= end for tp, end in ends.items()]
            ):
                break
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed
