"""The reports service's one composition root."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, create_http_app
from prometheus_client import CollectorRegistry

from . import api, subscribers
from .settings import ReportsSettings


def create_app(settings: ReportsSettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or ReportsSettings()
    runtime = ServiceRuntime(settings, migrations_package="reports", registry=registry)
    subscribers.register(runtime)
    return create_http_app(runtime, title="incentives reports", routers=[api.build_router(runtime, settings.sla_days)])
