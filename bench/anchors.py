"""Same-run anchors the benchmarks put beside their figures (the broker's own ceiling), and their stack."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from incentives_ops.embedded import free_port
from incentives_ops.stack import Stack, StackOptions


def bench_stack() -> Stack:
    """An embedded stack of its own on free ports (no demo traffic), so a benchmark never meets `make run`."""
    return Stack(
        StackOptions(
            state_dir=Path(tempfile.mkdtemp(prefix="incentives-bench-")),
            pg_port=free_port(),
            kafka_port=free_port(),
            ports={s: free_port() for s in ("reports", "points", "rewards", "notify")},
        )
    )


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
