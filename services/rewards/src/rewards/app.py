"""The rewards service's one composition root: its consumer, jobs and routes on the kernel's runtime."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, build_service_app
from prometheus_client import CollectorRegistry

from . import api, jobs, subscribers
from .metrics import RewardsMetrics
from .saga import Deps
from .settings import RewardsSettings


def register(runtime: ServiceRuntime) -> Deps:
    """Wire the consumer and the jobs; what it returns (one set of metrics and settings), the routes share."""
    settings = runtime.settings
    assert isinstance(settings, RewardsSettings)
    deps = Deps(RewardsMetrics(runtime.registry), settings)
    subscribers.register(runtime, deps)
    jobs.schedule(runtime, deps)
    return deps


def create_app(settings: RewardsSettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    return build_service_app(settings or RewardsSettings(), register, api.build_routers, registry)
