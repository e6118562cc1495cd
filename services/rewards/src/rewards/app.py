"""The rewards service's one composition root."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import build_service_app
from prometheus_client import CollectorRegistry

from . import api, subscribers
from .settings import RewardsSettings


def create_app(settings: RewardsSettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or RewardsSettings()
    return build_service_app(
        settings,
        package="rewards",
        register=subscribers.register,
        routers=lambda rt: [api.build_router(rt)],
        registry=registry,
    )
