"""The embedded broker's cost of a fetch against the number of batches it holds in the partition.

Tansu 0.6's memory storage keeps each produced batch as an object and, for every fetch that has
records to return, lists all the partition's batch objects to find the offset asked for
(`tansu-storage/src/dynostore.rs`, `fetch`: `object_store.list(...)` over `.../records/`; the
newest upstream still does). Its CPU per fetch therefore grows with the batches ever produced, and
nothing deletes them (no retention; `delete_records` is `todo!()`). This measures that: a broker of
its own, one partition filled with single-record batches in steps, and at each size F fetches of
the last record (each finds one), the broker's CPU per fetch and each fetch's wall time.

Apache Kafka (compose) finds an offset through its segment index, so this is the embedded broker's
cost, not the services': M2 at 1,000 events/s of single-record batches leaves 60,000 in a minute.

    uv run python -m bench.broker_growth [STEPS] [FETCHES]   # default 0,10000,30000,60000 and 200
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from incentives_ops.embedded import EmbeddedTansu, free_port

from bench.anchors import producer
from bench.measure import note
from bench.waits import Progress

TOPIC = "bench.broker-growth"


async def fill(bootstrap: str, batches: int) -> None:
    """`batches` more single-record batches (a batch size below one record's keeps each alone)."""
    prod = producer(bootstrap, linger_ms=0, max_batch_size=64)
    await prod.start()
    progress = Progress("filling", batches)
    try:
        for start in range(0, batches, 5000):
            sent = [await prod.send(TOPIC, b"x" * 40, partition=0) for _ in range(min(5000, batches - start))]
            await asyncio.gather(*sent)
            progress.moved(start + len(sent))
            note(f"  filled {start + len(sent):,} of {batches:,} batches")
    finally:
        await prod.stop()


async def fetch_cost(bootstrap: str, broker: psutil.Process, fetches: int) -> dict[str, float]:
    """Broker CPU (ms) per fetch and each fetch's wall time, every fetch finding the last record."""
    tp = TopicPartition(TOPIC, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        walls: list[float] = []
        cpu0 = sum(broker.cpu_times()[:2])
        for _ in range(fetches):
            consumer.seek(tp, end - 1)
            started = time.perf_counter()
            got = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
            walls.append(time.perf_counter() - started)
            assert got.get(tp), "a fetch found nothing"
        cpu = sum(broker.cpu_times()[:2]) - cpu0
    finally:
        await consumer.stop()
    return {
        "batches": end,
        "broker_cpu_ms_per_fetch": round(cpu * 1000 / fetches, 3),
        "fetch_wall_ms_p50": round(statistics.median(walls) * 1000, 2),
    }


async def main(steps: list[int], fetches: int) -> dict[str, object]:
    port = free_port()
    tansu = EmbeddedTansu(port, Path(tempfile.mkdtemp(prefix="incentives-broker-growth-")) / "tansu.log")
    bootstrap = tansu.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, 1, 1)])
        finally:
            await admin.close()
        assert tansu.pid is not None
        broker = psutil.Process(tansu.pid)
        await fill(bootstrap, 1)
        rows = []
        held = 1
        for size in steps:
            if size > held:
                await fill(bootstrap, size - held)
                held = size
            await asyncio.sleep(1)  # let the producer's last requests settle out of the measure
            row = await fetch_cost(bootstrap, broker, fetches)
            note(f"  {row['batches']:>7,} batches: {row['broker_cpu_ms_per_fetch']:.2f} ms of broker CPU per fetch")
            rows.append(row)
    finally:
        tansu.stop()
    first, last = rows[0], rows[-1]
    grown = last["broker_cpu_ms_per_fetch"] - first["broker_cpu_ms_per_fetch"]
    per_1000 = grown * 1000 / max(1, last["batches"] - first["batches"])
    return {"fetches_per_step": fetches, "steps": rows, "broker_cpu_ms_per_fetch_per_1000_batches": round(per_1000, 4)}


if __name__ == "__main__":
    steps = [int(s) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else [0, 10000, 30000, 60000]
    print(json.dumps(asyncio.run(main(steps, int(sys.argv[2]) if len(sys.argv) > 2 else 200)), indent=2))
