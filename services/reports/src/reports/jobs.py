"""The reports service's background jobs (run by the runtime: `runtime.every`)."""

from __future__ import annotations

from datetime import UTC, datetime

from incentives_kernel.runtime import ServiceRuntime

from . import overdue
from .settings import ReportsSettings
from .usecases import Deps


def schedule(runtime: ServiceRuntime, deps: Deps, settings: ReportsSettings) -> None:
    async def announce_overdue() -> int:
        """Announce what became overdue (once per report); keep the overdue and rating gauges current."""
        return await overdue.overdue_once(
            runtime.unit_of_work, datetime.now(UTC), deps.metrics, kpi_days=settings.kpi_gauge_days
        )

    runtime.every("announce_overdue", settings.overdue_sweep_interval_s, announce_overdue)
