"""The points service's one composition root."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, create_http_app
from prometheus_client import CollectorRegistry

from . import api, subscribers
from .settings import PointsSettings


def create_app(settings: PointsSettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or PointsSettings()
    runtime = ServiceRuntime(settings, migrations_package="points", registry=registry)
    subscribers.register(runtime)
    return create_http_app(runtime, title="incentives points", routers=[api.build_router(runtime)])
