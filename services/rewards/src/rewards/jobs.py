"""The rewards service's background jobs (run by the runtime: `runtime.every`)."""

from __future__ import annotations

from incentives_kernel.runtime import ServiceRuntime

from . import rounds, saga
from .saga import Deps

GAUGE_REFRESH_S = 15.0


def schedule(runtime: ServiceRuntime, deps: Deps) -> None:
    interval = deps.settings.saga_sweep_interval_s

    async def give_up_redemptions() -> int:
        """Reject redemptions whose hold points never answered in time (their unit goes back)."""
        return await saga.give_up_overdue(runtime.unit_of_work, deps)

    async def close_rounds() -> int:
        """Close the allocation rounds whose window has ended."""
        return await rounds.close_due(runtime.unit_of_work, deps)

    async def finalise_rounds() -> int:
        """Make final the results whose public notice has ended."""
        return await rounds.finalise_due(runtime.unit_of_work)

    async def expire_vouchers() -> int:
        """Vouchers not redeemed in time: expired, points refunded if the reward says so."""
        return await saga.expire_due(runtime.unit_of_work, deps)

    async def refresh_gauges() -> None:
        """Stock and open rounds, as the database has them (other replicas change them too)."""
        await deps.metrics.refresh(runtime.unit_of_work)

    runtime.every("give_up_redemptions", interval, give_up_redemptions)
    runtime.every("close_rounds", interval, close_rounds)
    runtime.every("finalise_rounds", interval, finalise_rounds)
    runtime.every("expire_vouchers", interval, expire_vouchers)
    runtime.every("refresh_gauges", GAUGE_REFRESH_S, refresh_gauges)
