"""The notify service's one composition root: its consumer, jobs and routes on the kernel's runtime."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, build_service_app
from prometheus_client import CollectorRegistry

from . import api, delivery, jobs, subscribers
from .metrics import NotifyMetrics
from .settings import NotifySettings
from .usecases import Context


def register(runtime: ServiceRuntime) -> Context:
    """Wire the jobs and the consumer; what it returns (metrics, the webhook worker's bell), the routes share."""
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    metrics = NotifyMetrics(runtime.registry)
    worker = delivery.WebhookWorker(
        lambda: runtime.pool, settings, metrics, after_send=delivery.crash_after_send_hook(settings)
    )
    deliver = jobs.schedule(runtime, worker, metrics, settings)
    ctx = Context(metrics=metrics, timezone=settings.timezone, wake_webhooks=deliver.wake)
    subscribers.register(runtime, ctx)
    return ctx


def create_app(settings: NotifySettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    return build_service_app(settings or NotifySettings(), register, api.build_routers, registry)
