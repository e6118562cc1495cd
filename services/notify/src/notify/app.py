"""The notify service's one composition root."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, build_service_app
from prometheus_client import CollectorRegistry

from . import api, delivery, subscribers, webhooks_api
from .settings import NotifySettings


def create_app(settings: NotifySettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    workers: list[delivery.WebhookWorker] = []

    def register(runtime: ServiceRuntime) -> None:
        workers.append(subscribers.register(runtime))

    return build_service_app(
        settings,
        package="notify",
        register=register,
        # The routes run after `register` (build_service_app calls it first): a re-drive wakes the worker.
        routers=lambda rt: [api.build_router(rt), webhooks_api.build_router(rt, workers[0])],
        registry=registry,
    )
