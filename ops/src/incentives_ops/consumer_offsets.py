"""Where each consumer group stands on the broker, checked against what its inbox says it did.

Two invariants of the audit live here because they need the broker as well as the database:
- offsets never run ahead of effects: every record below a group's committed offset is in that
  service's inbox (by its CloudEvent identity, or by its position if it could not be parsed);
- liveness: once traffic has stopped, every group has committed up to the end of every partition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

# Enough for the largest record a producer may push at us (poison tests send more than 1 MiB).
MAX_FETCH_BYTES = 8 * 1024 * 1024


async def committed(bootstrap: str, group: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The group's committed offsets (-1 where none), asked without joining the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        out: dict[TopicPartition, int] = {}
        for name in topics:
            for p in sorted(consumer.partitions_for_topic(name) or set()):
                tp = TopicPartition(name, p)
                position = await consumer.committed(tp)
                out[tp] = -1 if position is None else int(position)
        return out
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: int(o) for tp, o in (await consumer.end_offsets(list(partitions))).items()}
    finally:
        await consumer.stop()


async def lag(bootstrap: str, subscriptions: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Records not yet committed, per group (a partition never committed counts from 0)."""
    out: dict[str, int] = {}
    for group, topics in subscriptions.items():
        positions = await committed(bootstrap, group, topics)
        ends = await end_offsets(bootstrap, list(positions))
        out[group] = sum(max(0, end - max(positions[tp], 0)) for tp, end in ends.items())
    return out


async def _records(
    bootstrap: str, tp: TopicPartition, start: int, stop: int
) -> list[tuple[int, str | None, str | None]]:
    """(offset, source, id) of the records in [start, stop); source/id None when the value is no CloudEvent."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=MAX_FETCH_BYTES,
        fetch_max_bytes=MAX_FETCH_BYTES,
    )
    await consumer.start()
    out: list[tuple[int, str | None, str | None]] = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        empty = 0
        while (not out or out[-1][0] < stop - 1) and empty < 20:
            batch = await consumer.getmany(tp, timeout_ms=500)
            records = batch.get(tp, [])
            empty = 0 if records else empty + 1
            for r in records:
                if r.offset >= stop:
                    return out
                source = event_id = None
                try:
                    body = json.loads(r.value or b"")
                    if isinstance(body, dict):
                        source, event_id = body.get("source"), body.get("id")
                except (ValueError, UnicodeDecodeError):
                    pass
                ok = isinstance(source, str) and isinstance(event_id, str)
                out.append((r.offset, source if ok else None, event_id if ok else None))
        return out
    finally:
        await consumer.stop()


async def offset_checks(
    conn: asyncpg.Connection,
    bootstrap: str,
    subscriptions: Mapping[str, Sequence[str]],
    *,
    settled: bool,
    window: int = 2000,
) -> list[tuple[str, str, list[str]]]:
    """(check name, what a violation means, examples) for each group; `window` bounds the records read
    below each committed offset (the newest ones: where a crash between commit and ack would show)."""
    results: list[tuple[str, str, list[str]]] = []
    for group, topics in subscriptions.items():
        positions = await committed(bootstrap, group, topics)
        skipped: list[str] = []
        for tp, position in positions.items():
            if position <= 0:
                continue
            records = await _records(bootstrap, tp, max(0, position - window), position)
            if not records:
                continue
            rows = await conn.fetch(
                f"""SELECT s.o FROM unnest($1::bigint[], $2::text[], $3::text[]) AS s(o, source, event_id)
                    WHERE NOT EXISTS (SELECT 1 FROM "{group}".inbox i WHERE i.consumer = $4
                                       AND ((i.source = s.source AND i.event_id = s.event_id)
                                            OR (i.source = 'kafka:' || $5 AND (i.event_id = $6 || '/' || s.o
                                                OR i.event_id LIKE $6 || '/' || s.o || '/%'))))""",
                [o for o, _, _ in records],
                [src or "" for _, src, _ in records],
                [eid or "" for _, _, eid in records],
                group,
                tp.topic,
                str(tp.partition),
            )
            skipped.extend(f"{tp.topic}[{tp.partition}]@{r['o']} < {position}" for r in rows)
        results.append(
            (
                f"{group}: committed offsets never ahead of effects",
                "a record below the committed offset has no inbox row: it was skipped",
                skipped,
            )
        )
        if settled:
            ends = await end_offsets(bootstrap, list(positions))
            behind = [
                f"{tp.topic}[{tp.partition}] {max(positions[tp], 0)}/{end}"
                for tp, end in ends.items()
                if end > max(positions[tp], 0)
            ]
            results.append((f"{group}: caught up (lag 0 on every partition)", "the group is behind or stuck", behind))
    return results
