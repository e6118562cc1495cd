"""Same-run anchors the benchmarks put beside their figures: the broker's own ceiling."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer


async def raw_drain_seconds(bootstrap: str, topic_names: list[str], expected: int) -> float:
    """Seconds a bare aiokafka consumer (no group, no processing) takes to read `expected` records."""
    consumer = AIOKafkaConsumer(
        *topic_names, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    started, seen = time.perf_counter(), 0
    try:
        while seen < expected:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10000)).values():
                seen += len(records)
    finally:
        await consumer.stop()
    return time.perf_counter() - started
