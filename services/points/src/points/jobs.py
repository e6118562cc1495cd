"""The points service's background jobs (run by the runtime: `runtime.every`)."""

from __future__ import annotations

from incentives_kernel.runtime import ServiceRuntime

from . import holds, levels
from .settings import PointsSettings
from .usecases import Deps


def schedule(runtime: ServiceRuntime, deps: Deps, settings: PointsSettings) -> None:
    async def expire_holds() -> int:
        """Expire holds past their time: their points go back and the holder is told (never left to callers)."""
        return await holds.expire_due(runtime.unit_of_work, deps)

    async def age_levels() -> int:
        """Re-check the levels of members whose oldest earned points just left the 365-day window."""
        return await levels.age(runtime.unit_of_work, deps.timezone, deps.policy)

    runtime.every("expire_holds", settings.hold_sweep_interval_s, expire_holds)
    runtime.every("age_levels", settings.level_sweep_interval_s, age_levels)
