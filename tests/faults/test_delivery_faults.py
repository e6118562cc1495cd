"""Delivery faults: every event one to three times in shuffled order across partitions, and statuses
before their reports."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from incentives_kernel import topics

from tests.faults.harness import FaultRig
from tests.faults.load import Record, rating_records

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="session")]


def scattered(records: list[Record], rnd: random.Random) -> list[Record]:
    """Each record one to three times, each copy on a random partition, all shuffled."""
    out = [
        replace(r, partition=rnd.randrange(topics.spec(r.topic).partitions))
        for r in records
        for _ in range(rnd.randint(1, 3))
    ]
    rnd.shuffle(out)
    return out


async def test_every_event_one_to_three_times_shuffled_across_partitions(rig: FaultRig) -> None:
    fault = "every event delivered 1-3 times, shuffled across partitions"
    h = rig.history(fault)
    rnd = random.Random(7)
    ratings = rating_records(h)
    rated = {(r.source, r.event_id) for r in ratings}
    rest = [r for r in h.records if (r.source, r.event_id) not in rated]
    await rig.in_phases(fault, h, [scattered(rest, rnd), scattered(ratings, rnd)])


async def test_statuses_before_reports(rig: FaultRig) -> None:
    """Every report's statuses are sent before the report itself (same key: same partition, in
    that order); they wait, parked, and apply in order when it arrives."""
    fault = "every report's statuses sent before the report"
    h = rig.history(fault)
    ratings = rating_records(h)
    rated = {(r.source, r.event_id) for r in ratings}
    held: dict[str, Record] = {}
    reordered: list[Record] = []
    for r in h.records:
        if (r.source, r.event_id) in rated:
            continue
        if r.topic == topics.REPORTS and b'"report.submitted"' in r.value:
            held[r.key] = r
            continue
        reordered.append(r)
        if r.topic == topics.REPORTS and b'"report.status_changed"' in r.value and b'"resolved"' in r.value:
            reordered.append(held.pop(r.key))
    assert not held
    await rig.in_phases(fault, h, [reordered, ratings])
