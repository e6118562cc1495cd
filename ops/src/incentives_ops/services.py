"""The four services: how to build each one's app and settings, and run it as a process."""

from __future__ import annotations

import gc
import importlib
from dataclasses import dataclass

from incentives_kernel.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    port: int
    env_prefix: str
    settings_path: str  # module:Class

    def settings_class(self) -> type[ServiceSettings]:
        module, cls = self.settings_path.split(":")
        loaded: type[ServiceSettings] = getattr(importlib.import_module(module), cls)
        return loaded


SERVICES: dict[str, ServiceInfo] = {
    "reports": ServiceInfo("reports", 8081, "REPORTS_", "reports.settings:ReportsSettings"),
    "points": ServiceInfo("points", 8082, "POINTS_", "points.settings:PointsSettings"),
    "rewards": ServiceInfo("rewards", 8083, "REWARDS_", "rewards.settings:RewardsSettings"),
    "notify": ServiceInfo("notify", 8084, "NOTIFY_", "notify.settings:NotifySettings"),
}


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, models, the app) out of the garbage collector's full passes.

    It lives as long as the process, yet every full collection walked all of it again: a consumer
    allocates enough per batch to run a few per 10,000 events, and in notify's consumer they took
    15-18% of the time (bench.notify_profile, measured with gc.callbacks; 5% once frozen). Cyclic
    garbage made before this point is collected first; what comes after is collected as ever."""
    gc.collect()
    gc.freeze()


def serve(name: str) -> None:
    """Run one service in this process (HTTP API, consumers, relay) until SIGTERM/SIGINT.

    Its settings, database and broker are checked first: a bad setting or an unreachable dependency
    is one line and exit 2 (failures.py), not a traceback from inside the app's start-up."""
    import asyncio

    import uvicorn
    from incentives_kernel.kafka_security import client_kwargs
    from incentives_kernel.settings import SHARED_ENV
    from pydantic import ValidationError

    from .failures import Unusable, require_broker, require_database, settings_problem

    info = SERVICES[name]
    try:
        settings = info.settings_class()()
    except ValidationError as exc:
        raise Unusable(settings_problem(exc, info.env_prefix, SHARED_ENV)) from None
    prefix = info.env_prefix

    async def preflight() -> None:
        await require_database(settings.dsn, f"{prefix}DATABASE_URL (or DATABASE_URL)")
        if settings.migration_dsn:
            await require_database(settings.migration_dsn, f"{prefix}MIGRATION_DATABASE_URL")
        await require_broker(
            settings.bootstrap, f"{prefix}KAFKA_BOOTSTRAP_SERVERS (or KAFKA_BOOTSTRAP_SERVERS)", client_kwargs(settings)
        )

    asyncio.run(preflight())
    app = importlib.import_module(f"{name}.app").create_app(settings)
    freeze_startup_objects()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        # uvloop and httptools (C): the services' CPU is largely the event loop's own scheduling and
        # HTTP parsing (docs/benchmarks/context.md, M4 with and without).
        loop="uvloop",
        http="httptools",
        # HTTP requests are short; the consumers' graceful stop (broker) follows in the lifespan,
        # and both together stay inside compose's 30 s stop_grace_period.
        timeout_graceful_shutdown=5,
        timeout_keep_alive=settings.http_keep_alive_s,
    )
