"""The rewards service's one composition root."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, build_service_app
from prometheus_client import CollectorRegistry

from . import api, subscribers
from .saga import Deps
from .settings import RewardsSettings


def create_app(settings: RewardsSettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    settings = settings or RewardsSettings()
    shared: list[Deps] = []  # made by the subscribers, used by the routes: one set of metrics and settings

    def register(runtime: ServiceRuntime) -> None:
        shared.append(subscribers.register(runtime))

    return build_service_app(
        settings,
        package="rewards",
        register=register,
        routers=lambda rt: [api.build_router(rt, shared[0])],
        registry=registry,
    )
