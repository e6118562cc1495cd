"""The Kafka adapter of the consumer: FastStream's batch subscriber around the engine.

It hands each polled batch to `EventConsumer.handle_batch` (engine.py) and commits the offsets only
after the batch's transaction has committed; on any failure it rewinds every partition of the batch
and retries after a capped, jittered backoff, so a batch that did not commit is never skipped. It
also reports the consumer's lag. What records mean and what becomes of them is the engine's.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from .engine import EventConsumer, TransientFailure
from .health import Health
from .metrics import KernelMetrics

log = structlog.get_logger(__name__)


def backoff_delays(max_s: float) -> Callable[[], float]:
    """Capped exponential backoff with jitter; call to get the next delay, reset by re-creating."""
    state = {"n": 0}

    def next_delay() -> float:
        state["n"] += 1
        base = min(max_s, 0.1 * 2 ** min(state["n"], 20))
        return float(base * (0.5 + random.random() / 2))

    return next_delay


def subscribe(
    broker: KafkaBroker,
    consumer: EventConsumer,
    *,
    topics: Sequence[str],
    group_id: str,
    max_records: int,
    batch_timeout_ms: int,
    session_timeout_ms: int,
    fetch_max_wait_ms: int,
    max_backoff_s: float,
    health: Health,
    metrics: KernelMetrics,
    description: str,
    exit_after_commit: int = 0,
) -> None:
    """Register the service's one batch subscriber: explicit group, manual ack after the commit.

    `exit_after_commit` is a test-only fault hook (settings: INCENTIVES_FAULT_EXIT_AFTER_COMMIT, dev
    only; tests/faults/): die like `kill -9` right after the n-th batch's database commit and before
    its offset commit, the one window only the inbox covers.
    """

    async def raw(msg: Any) -> Any:
        # The kernel parses records itself (to dead-letter bad bytes); FastStream must not decode.
        return msg.body

    delays = {"next": backoff_delays(max_backoff_s)}
    commits = [0]

    @broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        fetch_max_wait_ms=fetch_max_wait_ms,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=raw,
        title=f"{group_id}:consume",
        description=description,
    )
    async def consume_batch(body: list[bytes], msg: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[Any, Any], ...] = msg.raw_message
        try:
            await consumer.handle_batch(records)
        except Exception as exc:
            # Transient or not, a batch that did not commit is never skipped: rewind and retry. A bug
            # that keeps failing stalls the partition (lag and /readyz show it) rather than lose events.
            reason = str(exc) if isinstance(exc, TransientFailure) else f"unexpected {type(exc).__name__}"
            health.set("consumer", False, reason)
            metrics.transient_failures.labels(records[0].topic).inc()
            delay = delays["next"]()
            log.warning(
                "batch rolled back, will retry",
                reason=reason,
                retry_in_s=round(delay, 2),
                records=len(records),
                exc_info=not isinstance(exc, TransientFailure),
            )
            await msg.nack()  # rewinds every partition of the batch to its first record
            await asyncio.sleep(delay)
            return
        commits[0] += 1
        if exit_after_commit and commits[0] >= exit_after_commit:
            os._exit(137)
        await msg.ack()
        delays["next"] = backoff_delays(max_backoff_s)
        health.set("consumer", True, "")
        _observe_lag(msg, records, metrics)


def _observe_lag(msg: KafkaMessage, records: Sequence[ConsumerRecord[Any, Any]], metrics: KernelMetrics) -> None:
    kafka_consumer = msg.consumer
    highwater = getattr(kafka_consumer, "highwater", None)
    if highwater is None:
        return
    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
    for (topic, partition), offset in last.items():
        hw = highwater(TopicPartition(topic, partition))
        if hw is not None:
            metrics.consumer_lag.labels(topic, str(partition)).set(max(0, hw - offset - 1))
