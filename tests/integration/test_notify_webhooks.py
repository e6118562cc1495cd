"""Webhooks against a real PostgreSQL and a real local HTTP receiver: signatures, retries, the breaker,
dead letters and re-drive, a crash between send and record, and two workers sharing the work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from incentives_kernel import signing
from incentives_kernel.background import Job
from notify import delivery, usecases, webhooks
from notify import repository as repo
from notify.settings import NotifySettings

from tests.integration.notify_support import SECRET, Notify, credited, handle, notify_db, settings_for
from tests.receiver import Receiver, running
from tests.support import eventually, production_settings, uid

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["notify_db"]  # the fixture, imported


async def register(n: Notify, url: str, types: tuple[str, ...] = ("points.credited",)) -> str:
    webhook_id = uid("wh")
    async with n.pool.acquire() as conn:
        await repo.insert_webhook(conn, webhook_id, url, types, SECRET, "operator:test")
    return webhook_id


async def deliveries(n: Notify, webhook_id: str) -> list[asyncpg.Record]:
    async with n.pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq", webhook_id)


async def status_of(n: Notify, webhook_id: str, status: str, count: int = 1) -> list[asyncpg.Record] | None:
    rows = await deliveries(n, webhook_id)
    return rows if len(rows) == count and all(r["status"] == status for r in rows) else None


@contextlib.asynccontextmanager
async def worker_running(
    n: Notify, settings: NotifySettings | None = None
) -> AsyncIterator[tuple[delivery.WebhookWorker, Job]]:
    """The worker's rounds as the service runs them: a background job (its `wake` starts a round)."""
    s = settings or n.settings
    worker = delivery.WebhookWorker(lambda: n.pool, s, n.metrics)
    job = Job("deliver_webhooks", s.webhook_poll_s, worker.deliver_round, again_at=1)
    task = asyncio.create_task(job.forever())
    try:
        yield worker, job
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_delivery_is_signed_and_the_receiver_verifies_it(notify_db: Notify) -> None:
    n = notify_db
    with running(Receiver(SECRET)) as receiver:
        webhook_id = await register(n, receiver.url)
        event = credited("m-en", amount=7)
        await handle(n, event)
        async with worker_running(n):
            rows = await eventually(lambda: status_of(n, webhook_id, "delivered"), what="delivered")
    [request] = receiver.requests
    assert request.signature_ok
    assert request.status == 200
    h = request.headers
    assert h["webhook-signature"] == signing.signature(
        signing.parse_secret(SECRET), h["webhook-id"], int(h["webhook-timestamp"]), request.body
    )
    assert h["x-webhook-id"] == webhook_id
    assert h["x-delivery-attempt"] == "1"
    assert h["content-type"] == "application/json"
    body = json.loads(request.body)
    cause = f"{event.envelope.source}#{event.envelope.id}"
    assert h["webhook-id"] == h["x-notification-id"] == body["notification_id"]
    assert body["notification_id"] == usecases.notification_id(cause, "m-en", "webhook")
    assert body["notification_id"] != usecases.notification_id(cause, "m-en", "inbox")
    assert body["member_id"] == "m-en"
    assert body["kind"] == "points_credited"
    assert body["event_type"] == "points.credited"
    assert body["locale"] == "en"
    assert body["title"] == "+7 points"
    assert "Available now: 40" in body["body"]
    assert body["source_event"] == {"source": "/incentives/points", "id": event.envelope.id}
    assert rows[0]["attempts"] == 1
    # A receiver with another secret, or a tampered body, does not verify.
    sent_at = int(h["webhook-timestamp"])
    assert webhooks.verify(SECRET, h, request.body, now=sent_at)
    assert not webhooks.verify(signing.new_secret(), h, request.body, now=sent_at)
    assert not webhooks.verify(SECRET, h, request.body + b" ", now=sent_at)
    assert n.sample("incentives_notify_deliveries_total", channel="webhook", outcome="delivered") == 1
    assert n.sample("incentives_notify_delivery_latency_seconds_count", channel="webhook") == 1
    assert (
        n.sample(
            "incentives_notify_notifications_created_total", kind="points_credited", channel="webhook", locale="en"
        )
        == 1
    )


async def test_500_twice_then_200_gives_exactly_one_accepted_delivery(notify_db: Notify) -> None:
    n = notify_db
    with running(Receiver(SECRET, script=[500, 500])) as receiver:
        webhook_id = await register(n, receiver.url)
        await handle(n, credited("m-zh"))
        async with worker_running(n):
            [row] = await eventually(lambda: status_of(n, webhook_id, "delivered"), what="delivered")
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert [r.headers["x-delivery-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len(set(receiver.ids_sent())) == 1
    assert len(receiver.accepted) == 1
    assert row["attempts"] == 3
    assert row["last_status"] == 200
    assert n.sample("incentives_notify_deliveries_total", channel="webhook", outcome="failed") == 2
    assert n.sample("incentives_notify_deliveries_total", channel="webhook", outcome="delivered") == 1
    async with n.pool.acquire() as conn:
        assert await conn.fetchval("SELECT consecutive_failures FROM webhooks WHERE webhook_id = $1", webhook_id) == 0


async def test_an_endpoint_that_always_fails_is_dead_lettered_and_can_be_re_driven(notify_db: Notify) -> None:
    n = notify_db
    # A breaker that opens after two failures: the third attempt is a half-open probe after the cool-down.
    settings = settings_for(n.settings.dsn, webhook_breaker_threshold=2, webhook_breaker_cooldown_s=0.3)
    with running(Receiver(SECRET, otherwise=503)) as receiver:
        webhook_id = await register(n, receiver.url)
        await handle(n, credited("m-zh"))
        async with worker_running(n, settings) as (worker, job):
            [dead] = await eventually(lambda: status_of(n, webhook_id, "dead_lettered"), what="dead letter")
            assert dead["attempts"] == 3
            assert dead["last_status"] == 503
            assert dead["last_error"] == "HTTP 503"
            async with n.pool.acquire() as conn:
                listed = await repo.list_dead_letters(conn, webhook_id, before_seq=None, limit=10)
                breaker = await conn.fetchrow("SELECT * FROM webhooks WHERE webhook_id = $1", webhook_id)
            assert [r["delivery_id"] for r in listed] == [dead["delivery_id"]]
            assert breaker["consecutive_failures"] == 3  # the failed probe opened it again
            assert breaker["circuit_open_until"] is not None
            await worker.refresh_gauges()
            assert n.sample("incentives_notify_webhook_dead_letters") == 1
            assert n.sample("incentives_notify_webhook_circuit_open", endpoint_id=webhook_id) == 1
            assert n.sample("incentives_notify_deliveries_total", channel="webhook", outcome="dead_lettered") == 1
            assert len(receiver.accepted) == 0

            # The operator fixes the endpoint and re-drives: delivered once, after the cool-down, by a probe.
            receiver.otherwise = 200
            async with n.pool.acquire() as conn:
                assert await repo.redrive(conn, webhook_id, None, "operator:test") == [dead["delivery_id"]]
            job.wake()
            [row] = await eventually(lambda: status_of(n, webhook_id, "delivered"), what="re-driven delivery")
            await worker.refresh_gauges()
    assert row["redriven"] == 1
    assert row["attempts"] == 1
    assert len(receiver.accepted) == 1
    assert [r.status for r in receiver.requests] == [503, 503, 503, 200]
    assert n.sample("incentives_notify_webhook_dead_letters") == 0
    assert n.sample("incentives_notify_webhook_circuit_open", endpoint_id=webhook_id) == 0


async def test_a_4xx_answer_is_dead_lettered_at_once(notify_db: Notify) -> None:
    n = notify_db
    with running(Receiver(SECRET, otherwise=410)) as receiver:
        webhook_id = await register(n, receiver.url)
        await handle(n, credited("m-zh"))
        async with worker_running(n):
            [dead] = await eventually(lambda: status_of(n, webhook_id, "dead_lettered"), what="dead letter")
    assert dead["attempts"] == 1
    assert dead["last_status"] == 410
    assert len(receiver.requests) == 1


# A notify webhook worker in a process of its own, built from the environment as the service builds
# it: NOTIFY_TEST_HOOK_CRASH_AFTER_SEND makes it exit (os._exit) right after a send, before the record.
WORKER_PROCESS = """
import asyncio
from incentives_kernel.background import Job
from incentives_kernel.db import make_pool
from notify import delivery
from notify.metrics import NotifyMetrics
from notify.settings import NotifySettings
from prometheus_client import CollectorRegistry

async def main():
    settings = NotifySettings()
    pool = await make_pool(settings.dsn, "notify", min_size=1, max_size=2, application_name="crashing-worker")
    hook = delivery.crash_after_send_hook(settings)
    worker = delivery.WebhookWorker(lambda: pool, settings, NotifyMetrics(CollectorRegistry()), after_send=hook)
    await Job("deliver_webhooks", settings.webhook_poll_s, worker.deliver_round, again_at=1).forever()

asyncio.run(main())
"""


async def test_a_crash_between_send_and_record_gives_no_second_accepted_delivery(notify_db: Notify) -> None:
    n = notify_db
    with running(Receiver(SECRET)) as receiver:
        webhook_id = await register(n, receiver.url)
        await handle(n, credited("m-zh"))
        env = {
            **os.environ,
            "INCENTIVES_ENV": "dev",
            "NOTIFY_DATABASE_URL": n.settings.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "NOTIFY_TEST_HOOK_CRASH_AFTER_SEND": "true",
            "NOTIFY_WEBHOOK_LEASE_S": "2",
            "NOTIFY_WEBHOOK_TIMEOUT_S": "1",
            "NOTIFY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER_PROCESS,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == delivery.CRASH_EXIT_CODE, output.decode(errors="replace")[-2000:]
        assert b"TEST HOOK: exiting after a webhook send" in output
        [row] = await deliveries(n, webhook_id)
        assert row["status"] == "pending"  # sent and accepted, but never recorded
        assert row["attempts"] == 1
        assert row["lease_until"] is not None
        assert len(receiver.accepted) == 1

        # The next worker sends it again once the lease is over; the receiver deduplicates by the id header.
        async with worker_running(n):
            [row] = await eventually(lambda: status_of(n, webhook_id, "delivered"), what="delivered")
    ids = receiver.ids_sent()
    assert len(ids) == 2
    assert ids[0] == ids[1]
    assert [r.headers["x-delivery-attempt"] for r in receiver.requests] == ["1", "2"]
    assert len(receiver.accepted) == 1
    assert row["attempts"] == 2


async def test_the_crash_hook_is_inert_unless_enabled_and_refused_outside_dev(notify_db: Notify) -> None:
    assert delivery.crash_after_send_hook(notify_db.settings) is None
    assert delivery.crash_after_send_hook(settings_for(notify_db.settings.dsn, test_hook_crash_after_send=True))
    prod = {k.removeprefix("INCENTIVES_").lower(): v for k, v in production_settings().items()}
    settings_for(notify_db.settings.dsn, **prod)  # production settings as such are fine
    with pytest.raises(ValueError, match="test hook"):
        settings_for(notify_db.settings.dsn, **prod, test_hook_crash_after_send=True)


async def test_two_workers_never_send_the_same_delivery_at_once(notify_db: Notify) -> None:
    n = notify_db
    with running(Receiver(SECRET)) as receiver:
        webhook_id = await register(n, receiver.url)
        for i in range(30):
            await handle(n, credited("m-zh", amount=i + 1))
        small = settings_for(n.settings.dsn, webhook_batch_size=4, webhook_concurrency=2)
        async with worker_running(n, small), worker_running(n, small):
            await eventually(lambda: status_of(n, webhook_id, "delivered", count=30), what="30 delivered")
    ids = receiver.ids_sent()
    assert len(ids) == 30
    assert len(set(ids)) == 30
    assert len(receiver.accepted) == 30


async def test_the_operators_list_filters_on_the_breaker_and_dead_letters_and_pages_in_order(
    notify_db: Notify,
) -> None:
    """`GET /v1/webhooks`'s query: the breaker state it filters on is the one webhooks.circuit() gives, and
    paging two at a time returns every endpoint once, in registration order."""
    n = notify_db
    threshold = n.settings.webhook_breaker_threshold
    ids = [await register(n, f"http://127.0.0.1:9/list-{k}") for k in range(5)]
    closed, open_, half_open, dead, disabled = ids
    async with n.pool.acquire() as conn:
        now = await repo.database_now(conn)
        trip = "UPDATE webhooks SET consecutive_failures = $2, circuit_open_until = $3 WHERE webhook_id = $1"
        await conn.execute(trip, open_, threshold, now + timedelta(hours=1))
        await conn.execute(trip, half_open, threshold + 2, now - timedelta(seconds=1))
        await conn.execute(trip, closed, threshold - 1, None)
        await conn.execute(
            """INSERT INTO webhook_deliveries (delivery_id, notification_id, webhook_id, member_id, kind, event_type,
                   body, status, created_at, next_attempt_at, dead_lettered_at)
               VALUES ($1, $2, $3, 'm-list', 'points_credited', 'points.credited', '{}', 'dead_lettered',
                       $4, $4, $4)""",
            uid("d"),
            uid("n"),
            dead,
            now,
        )
        assert await repo.disable_webhook(conn, disabled, "operator:test") == 0

        async def listed(**f: Any) -> list[str]:
            found: list[asyncpg.Record] = []
            after = None
            while True:
                rows = await repo.list_webhooks(
                    conn, repo.WebhookFilter(**f), now=now, threshold=threshold, after=after, limit=3
                )
                found += rows[:2]
                if len(rows) <= 2:
                    break
                after = (rows[1]["created_at"], rows[1]["webhook_id"])
            mine = [r for r in found if r["webhook_id"] in ids]
            for r in mine:  # what the SQL filtered on is what the API shows
                state = webhooks.circuit(r["consecutive_failures"], r["circuit_open_until"], now, threshold)
                assert not f.get("circuits") or state in f["circuits"]
            all_ids = [r["webhook_id"] for r in found]
            assert len(set(all_ids)) == len(all_ids)
            return [r["webhook_id"] for r in mine]

        assert await listed() == [closed, open_, half_open, dead]
        assert await listed(include_disabled=True) == ids
        assert await listed(circuits=["closed"]) == [closed, dead]
        assert await listed(circuits=["open"]) == [open_]
        assert await listed(circuits=["half_open", "open"]) == [open_, half_open]
        assert await listed(attention=True) == [open_, half_open, dead]
        assert await listed(attention=True, circuits=["closed"]) == [dead]
