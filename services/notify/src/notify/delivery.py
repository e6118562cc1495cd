"""Background delivery: signed webhook requests with retries and a breaker, and pushes after quiet hours.

Webhook deliveries are rows written with the notification (an outbox for HTTP). A worker round:

1. in one short transaction, dead-letters deliveries whose last allowed attempt was claimed but never
   recorded, then picks the active endpoints whose circuit lets requests through (rows locked with
   SKIP LOCKED, so replicas never claim for one endpoint at the same time) and leases their due
   deliveries (a random token and `lease_until`); a half-open endpoint gets one probe;
2. sends them concurrently, without holding any lock or transaction;
3. records each result in its own transaction, only if it still holds the lease (the token matches):
   delivered; failed and rescheduled with full-jitter backoff; or dead-lettered after the last
   attempt or an answer that retrying will not change. The endpoint's breaker is updated with it.

A worker that dies between sending and recording leaves the lease to expire; the delivery is then
sent again with the same `X-Notification-Id` (receivers deduplicate by it): at least once, never
accepted twice by a receiver that deduplicates.

The rounds, the gauges and the release of deferred pushes are background jobs (jobs.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import structlog
from incentives_kernel.events import NotificationCreated
from incentives_kernel.uow import Work

from . import egress, webhooks
from . import repository as repo
from .metrics import NotifyMetrics
from .settings import NotifySettings
from .usecases import PUSH, WEBHOOK

log = structlog.get_logger(__name__)

CRASH_EXIT_CODE = 86
PUSH_BATCH = 500


@dataclass(frozen=True, slots=True)
class Claim:
    delivery_id: str
    notification_id: str
    webhook_id: str
    url: str
    secret: str
    body: bytes
    attempt: int


@dataclass(frozen=True, slots=True)
class Result:
    status: int | None
    error: str | None


def crash_after_send_hook(settings: NotifySettings) -> Callable[[], None] | None:
    """TEST HOOK (NOTIFY_TEST_HOOK_CRASH_AFTER_SEND): die between a send and its record. Inert unless set."""
    if not settings.test_hook_crash_after_send:
        return None

    def crash() -> None:
        log.warning("TEST HOOK: exiting after a webhook send, before recording it", exit_code=CRASH_EXIT_CODE)
        os._exit(CRASH_EXIT_CODE)

    return crash


class WebhookWorker:
    """Sends due webhook deliveries, a round at a time (`deliver_round`, a job the runtime runs)."""

    def __init__(
        self,
        pool: Callable[[], Any],
        settings: NotifySettings,
        metrics: NotifyMetrics,
        *,
        after_send: Callable[[], None] | None = None,
    ) -> None:
        self._pool = pool
        self._s = settings
        self._metrics = metrics
        self._after_send = after_send
        self._client: httpx.AsyncClient | None = None
        self._endpoints_seen: set[str] = set()
        # httpx logs every request with its URL at INFO, and an endpoint's query may carry a token.
        if "httpx" not in {n.strip() for n in settings.debug_loggers.split(",")}:
            logging.getLogger("httpx").setLevel(logging.WARNING)

    def client(self) -> httpx.AsyncClient:
        # Redirects are not followed: a signed request goes only where the operator registered it; and
        # each connection goes only to an address the egress policy allows, resolved once (egress.py).
        return egress.client(
            self._s.egress_policy(), self._s.webhook_timeout_s, headers={"User-Agent": "incentives-notify/1"}
        )

    async def deliver_round(self) -> int:
        """One round with the worker's own client (kept for the process: connections are reused)."""
        if self._client is None:
            self._client = self.client()
        return await self.deliver_once(self._client)

    async def deliver_once(self, client: httpx.AsyncClient) -> int:
        """One round: claim, send, record. Returns how many deliveries were attempted."""
        token = str(uuid.uuid4())
        claims, abandoned = await self._claim(token)
        for _ in abandoned:
            self._metrics.deliveries_as(WEBHOOK, "dead_lettered").inc()
        if not claims:
            return 0
        gate = asyncio.Semaphore(self._s.webhook_concurrency)

        async def attempt(claim: Claim) -> None:
            async with gate:
                result = await self._send(client, claim)
            if self._after_send is not None:
                self._after_send()
            await self._record(claim, token, result)

        await asyncio.gather(*(attempt(c) for c in claims))
        return len(claims)

    async def _claim(self, token: str) -> tuple[list[Claim], list[str]]:
        s = self._s
        claims: list[Claim] = []
        async with self._pool().acquire() as conn, conn.transaction():
            abandoned = [r["delivery_id"] for r in await repo.dead_letter_abandoned(conn, s.webhook_max_attempts)]
            for e in await repo.endpoints_with_due_deliveries(conn, s.webhook_max_attempts):
                probing = e["consecutive_failures"] >= s.webhook_breaker_threshold  # past the cool-down: half-open
                rows = await repo.claim_deliveries(
                    conn,
                    e["webhook_id"],
                    token=token,
                    lease_s=s.webhook_lease_s,
                    limit=1 if probing else s.webhook_batch_size,
                    max_attempts=s.webhook_max_attempts,
                )
                if probing and rows:
                    await repo.start_probe(conn, e["webhook_id"], s.webhook_lease_s)
                claims += [
                    Claim(
                        r["delivery_id"],
                        r["notification_id"],
                        r["webhook_id"],
                        e["url"],
                        e["secret"],
                        bytes(r["body"]),
                        r["attempts"],
                    )
                    for r in rows
                ]
        return claims, abandoned

    async def _send(self, client: httpx.AsyncClient, claim: Claim) -> Result:
        headers = webhooks.signed_headers(claim.secret, claim.notification_id, claim.body, time.time())
        headers["X-Webhook-Id"] = claim.webhook_id
        headers["X-Delivery-Attempt"] = str(claim.attempt)
        try:
            response = await client.post(claim.url, content=claim.body, headers=headers)
        except egress.BlockedAddress as exc:
            # Never connected: the name now leads somewhere webhooks may not go (DNS rebinding, or a
            # row registered before the check). The address and why, never the URL's path or query.
            return Result(None, f"blocked_address: {exc}"[:300])
        except httpx.HTTPError as exc:
            # The class only: an exception's text may carry the URL, and the URL may carry a token.
            return Result(None, type(exc).__name__)
        status = response.status_code
        return Result(status, None if 200 <= status < 300 else f"HTTP {status}")

    async def _record(self, claim: Claim, token: str, result: Result) -> None:
        s = self._s
        verdict = webhooks.verdict(result.status)
        error = result.error or ""
        latency: float | None = None
        outcome = "delivered"
        async with self._pool().acquire() as conn, conn.transaction():
            if verdict is webhooks.Verdict.DELIVERED:
                latency = await repo.record_delivered(conn, claim.delivery_id, token, result.status or 0)
                recorded = latency is not None
            elif verdict is webhooks.Verdict.RETRY and claim.attempt < s.webhook_max_attempts:
                outcome = "failed"
                delay = webhooks.backoff_s(claim.attempt, s.webhook_backoff_base_s, s.webhook_backoff_max_s)
                recorded = await repo.record_retry(conn, claim.delivery_id, token, result.status, error, delay)
            else:
                outcome = "dead_lettered"
                recorded = await repo.record_dead_letter(conn, claim.delivery_id, token, result.status, error)
            if recorded:
                failures, now = await repo.lock_breaker(conn, claim.webhook_id)
                update = webhooks.after_result(
                    failures,
                    verdict is webhooks.Verdict.DELIVERED,
                    now,
                    s.webhook_breaker_threshold,
                    s.webhook_breaker_cooldown_s,
                )
                await repo.set_breaker(conn, claim.webhook_id, update.consecutive_failures, update.open_until)
        if not recorded:
            log.warning("webhook result not recorded: the lease was lost", delivery_id=claim.delivery_id)
            return
        if outcome == "delivered":
            self._metrics.delivered(WEBHOOK, latency)
        else:
            self._metrics.deliveries_as(WEBHOOK, outcome).inc()
            log.info(
                "webhook delivery failed",
                delivery_id=claim.delivery_id,
                webhook_id=claim.webhook_id,
                attempt=claim.attempt,
                error=error,
                outcome=outcome,
            )

    async def refresh_gauges(self) -> None:
        async with self._pool().acquire() as conn:
            dead = await repo.count_dead_letters(conn)
            states = await repo.breaker_states(conn)
        self._metrics.dead_letters.set(dead)
        seen = set()
        for r in states:
            state = webhooks.circuit(
                r["consecutive_failures"], r["circuit_open_until"], r["now"], self._s.webhook_breaker_threshold
            )
            self._metrics.circuit_open.labels(r["webhook_id"]).set(0 if state is webhooks.Circuit.CLOSED else 1)
            seen.add(r["webhook_id"])
        for gone in self._endpoints_seen - seen:
            with contextlib.suppress(KeyError):
                self._metrics.circuit_open.remove(gone)
        self._endpoints_seen = seen


async def release_due_pushes(work: Work, metrics: NotifyMetrics) -> int:
    """Move pushes whose quiet hours are over to the outbox; returns how many."""
    async with work() as uow:
        rows = await repo.take_due_pushes(uow.conn, PUSH_BATCH)
        for r in rows:
            data = NotificationCreated.model_validate(r["data"])
            uow.emit("notification.created", r["member_id"], r["member_id"], data, event_id=r["notification_id"])
            uow.after_commit(partial(metrics.delivered, PUSH, r["waited_s"]))
    return len(rows)
