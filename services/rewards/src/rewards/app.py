"""The rewards service's one composition root."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, create_http_app
from prometheus_client import CollectorRegistry

from . import api, subscribers
from .settings import RewardsSettings


def create_app(settings: RewardsSettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or RewardsSettings()
    runtime = ServiceRuntime(settings, migrations_package="rewards", registry=registry)
    subscribers.register(runtime)
    return create_http_app(runtime, title="incentives rewards", routers=[api.build_router(runtime)])
