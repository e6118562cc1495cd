"""The reports service's one composition root: its consumer, jobs and routes on the kernel's runtime."""

from __future__ import annotations

from fastapi import FastAPI
from incentives_kernel.runtime import ServiceRuntime, build_service_app
from prometheus_client import CollectorRegistry

from . import api, jobs, subscribers
from .metrics import ReportsMetrics
from .settings import ReportsSettings
from .usecases import Deps


def register(runtime: ServiceRuntime) -> Deps:
    """Wire the consumer and the jobs; what it returns, the routes share."""
    settings = runtime.settings
    assert isinstance(settings, ReportsSettings)
    deps = Deps(ReportsMetrics(runtime.registry), settings.sla, settings.need_sla, settings.load_areas())
    subscribers.register(runtime, deps)
    jobs.schedule(runtime, deps, settings)
    return deps


def create_app(settings: ReportsSettings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    return build_service_app(settings or ReportsSettings(), register, api.build_routers, registry)
