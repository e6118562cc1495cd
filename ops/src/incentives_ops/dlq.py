"""Re-publishing dead letters to their original topic, once the cause is fixed.

The value and key are re-published unchanged (the CloudEvent keeps its id, its signature headers
stay); the error.* headers are dropped and a replay marker (kernel replay.py) records where it came
from and for which service (the dead letter's `error.service`), authenticated with the operators'
INCENTIVES_REPLAY_KEY. The marker is what lets that service try an event its inbox marks
dead-lettered once more, with its original (by now old) signature; an event that was in fact applied
meanwhile is still a duplicate. Without the key no marker can be made, and a marker that does not
authenticate is dead-lettered by every consumer. A consumer group remembers what was replayed.

Only dead letters a service's engine wrote are re-published: each must carry a provenance proof
(kernel dead_letter_proof.py) that verifies under the same key and names this topic as its origin.
The `.dlq` topics are writable by several services' principals, and what the replay writes to a
topic that one principal alone may write counts as that principal's; a record that fails the check
is refused (skipped, reported with its reason, never re-published), and there is no override: a
genuine dead letter without a proof is replayed with its service's operator API, from its own copy.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from incentives_kernel import dead_letter_proof
from incentives_kernel import replay as replay_marker
from incentives_kernel.topics import dlq_topic

from .topics_admin import sasl_from_env

REPLAY_GROUP = "incentives-dlq-replay"
NO_PROGRESS_S = 60.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """A dead letter not re-published: where it is in the DLQ, and why (dead_letter_proof.Refused)."""

    partition: int
    offset: int
    reason: str
    message: str


@dataclass
class Replayed:
    """What a replay did: (key, DLQ offset) of each record re-published, and each one refused.

    `verified`: whether the proofs were verified (False only in a dry run without the key, which checks
    what it can without it: a proof is there, of this topic, with a value)."""

    replayed: list[tuple[bytes | None, int]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    verified: bool = True


async def replay(
    bootstrap: str,
    topic: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    replay_key: str | None = None,
    idempotent: bool = False,
) -> Replayed:
    """Re-publish the proven dead letters of `topic`, refuse the others (`limit` counts re-published ones).

    `replay_key`: the services' INCENTIVES_REPLAY_KEY (read from the environment when not given).
    `idempotent`: an idempotent producer (the CLI asks for one except against the dev broker).
    """
    key = replay_key if replay_key is not None else os.environ.get("INCENTIVES_REPLAY_KEY", "")
    if (key or not dry_run) and len(key) < replay_marker.MIN_KEY_LENGTH:
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
    result = Replayed(verified=bool(key))
    replayed = result.replayed
    try:
        # Only what was dead-lettered before we started: an event that fails again is dead-lettered
        # again, and replaying that too would feed the DLQ back into its topic for ever. Metadata is
        # fetched first: without it the topic's partitions are unknown and only partition 0 would count.
        await consumer.topics()
        partitions = [TopicPartition(source, p) for p in sorted(consumer.partitions_for_topic(source) or {0})]
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end > 0}
        if not ends:
            return result
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
                    done[tp] = r.offset + 1  # a refused one is passed too: its verdict would not change
                    kept = r.headers or ()
                    try:
                        proven = (
                            dead_letter_proof.check(key, topic=topic, record_key=r.key, value=r.value, headers=kept)
                            if key
                            else dead_letter_proof.shape(topic=topic, value=r.value, headers=kept)[0]
                        )
                    except dead_letter_proof.Refused as exc:
                        result.refused.append(Refusal(tp.partition, r.offset, exc.reason, exc.message))
                        continue
                    headers = dead_letter_proof.replayable_headers(kept)
                    if not dry_run:
                        headers += replay_marker.mark(
                            key,
                            service=proven.service,
                            topic=topic,
                            replayed_from=f"{source}/{tp.partition}/{r.offset}",
                            ts=int(time.time()),
                            value=r.value,
                        )
                    if not dry_run:
                        await producer.send_and_wait(topic, r.value, key=r.key, headers=headers)
                    replayed.append((r.key, r.offset))
            if not dry_run and done:
                await consumer.commit(done)  # past what was re-published or refused, not all that was fetched
            assigned = consumer.assignment()
            if all(tp in assigned for tp in ends) and all(
                [await consumer.position(tp) >= end for tp, end in ends.items()]
            ):
                break
    finally:
        await producer.stop()
        await consumer.stop()
    return result
