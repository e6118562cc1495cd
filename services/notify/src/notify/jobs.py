"""The notify service's background jobs (run by the runtime: `runtime.every`)."""

from __future__ import annotations

from incentives_kernel.background import Job
from incentives_kernel.runtime import ServiceRuntime

from . import delivery
from .delivery import WebhookWorker
from .metrics import NotifyMetrics
from .settings import NotifySettings

GAUGE_REFRESH_S = 2.0


def schedule(runtime: ServiceRuntime, worker: WebhookWorker, metrics: NotifyMetrics, settings: NotifySettings) -> Job:
    """Register the jobs; returns the webhook delivery job, which a commit that wrote deliveries wakes."""

    async def release_pushes() -> int:
        """Publish the pushes whose quiet hours are over."""
        return await delivery.release_due_pushes(runtime.unit_of_work, metrics)

    async def webhook_gauges() -> None:
        """Dead letters and circuit states, as the database has them."""
        await worker.refresh_gauges()

    # A round that sent something is followed at once by the next; an idle one waits for a wake or the poll.
    deliver = runtime.every("deliver_webhooks", settings.webhook_poll_s, worker.deliver_round, again_at=1)
    runtime.every("webhook_gauges", GAUGE_REFRESH_S, webhook_gauges)
    runtime.every("release_pushes", settings.push_release_poll_s, release_pushes, again_at=delivery.PUSH_BATCH)
    return deliver
