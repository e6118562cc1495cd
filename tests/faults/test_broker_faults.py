"""The broker freezes, or restarts empty (the embedded Tansu keeps nothing): producers replay."""

from __future__ import annotations

import asyncio
import time

import pytest
from incentives_kernel import topics
from incentives_ops.dlq import replay

from tests.faults.harness import FaultRig
from tests.faults.injectors import pause_broker, republish_outboxes, reset_consumers_after_broker_loss, restart_broker
from tests.faults.load import Sender

pytestmark = [pytest.mark.faults, pytest.mark.asyncio(loop_scope="session")]


async def test_broker_paused(rig: FaultRig) -> None:
    pause = rig.scale.broker_pause_s
    await rig.under_load(
        f"broker paused (SIGSTOP) {pause:.0f} s, then resumed",
        lambda: pause_broker(rig, pause),
        duration_s=max(rig.scale.duration_s, pause * 1.5),
    )


async def test_broker_restarted_empty_then_history_replayed(rig: FaultRig) -> None:
    """Tansu's memory storage loses topics, records and group offsets on restart. What the operator
    does then: restart the services on a clean, empty broker (their read positions belong to the
    lost one), re-create the topics, have every producer replay what it sent, republish the
    services' recent outbox rows, and replay the inbound dead letters; the inboxes make every
    replay harmless.

    The last step is needed because a producer that loses records in the outage may still deliver
    later ones of the same key (no idempotence on Tansu): a rating that overtook its report's
    `resolved` is refused by rule (not_resolved) and dead-lettered; replayed after the history, it
    applies."""
    fault = "broker stopped and restarted empty; topics re-created, history and outboxes replayed"
    h = rig.history(fault)
    since = time.time()
    sender = Sender(rig.bootstrap)
    load = asyncio.create_task(sender.send(h, h.records, rig.scale.duration_s))
    await asyncio.sleep(rig.scale.duration_s / 3)
    await restart_broker(rig, rig.scale.outage_s)
    await load
    healed = time.monotonic()
    await reset_consumers_after_broker_loss(rig)
    await Sender(rig.bootstrap).send(h, h.records)
    assert await republish_outboxes(rig, since) > 0
    await rig.settle(h, healed)
    # Dead letters come back in the order they died: a `resolved` refused before its `assigned` is
    # replayed first and refused again, then `assigned` applies. So: passes until one re-publishes
    # nothing (each pass takes only what was dead-lettered since the last; at most three).
    for _ in range(3):
        replayed = [
            (await replay(rig.bootstrap, t, replay_key=rig.info.replay_key)).replayed
            for t in (topics.MEMBERS, topics.REPORTS, topics.VOLUNTEER, topics.REDEMPTIONS)
        ]
        await rig.settle(h, time.monotonic())  # the liveness bound holds for each step of the procedure
        if not any(replayed):
            break
    await rig.verdict(fault, h, time.monotonic() - healed)  # recovery: the whole procedure
