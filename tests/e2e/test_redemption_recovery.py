"""The saga after crashes: a killed rewards resumes from the database; with points down, the redemption
times out, its unit comes back, and the hold placed late is released once points returns."""

from __future__ import annotations

import asyncio
import signal

import pytest
from incentives_ops.audit import audit, render
from incentives_ops.stack import Stack

from tests.e2e.test_redemptions import Rig
from tests.support import balance_is, eventually, ready

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def rig(stack: Stack) -> Rig:
    return Rig(stack)


async def restart(stack: Stack, name: str, sig: int, extra_env: dict[str, str] | None = None) -> None:
    assert stack.info is not None
    await asyncio.to_thread(stack.stop_service, name, sig)
    stack.start_service(name, extra_env)
    await eventually(lambda: ready(stack.info.urls[name]), timeout=90, what=f"{name} back")  # type: ignore[union-attr]


async def test_rewards_killed_right_after_accepting_resumes_from_the_database(stack: Stack, rig: Rig) -> None:
    member = await rig.member(hours=5)
    reward = await rig.reward(initial_stock=1, cost_points=30)
    started = await rig.redeem(member, reward)
    await restart(stack, "rewards", signal.SIGKILL)  # perhaps before its relay sent the hold command
    done = await rig.settled(started["redemption_id"])
    assert done["status"] == "confirmed", done
    await eventually(lambda: balance_is(rig.points, member, 20), what="points debited once")


async def test_with_points_down_the_redemption_times_out_and_everything_is_given_back(stack: Stack, rig: Rig) -> None:
    member = await rig.member(hours=5)
    reward = await rig.reward(initial_stock=1, cost_points=30)
    short = {"REWARDS_HOLD_TTL_S": "10", "REWARDS_SAGA_GRACE_S": "1"}
    await restart(stack, "rewards", signal.SIGTERM, short)
    await asyncio.to_thread(stack.stop_service, "points", signal.SIGTERM)
    try:
        started = await rig.redeem(member, reward)
        assert await rig.stock(reward) == 0  # reserved while it waits
        done = await rig.settled(started["redemption_id"])
        assert (done["status"], done["reason"]) == ("rejected", "timed_out"), done
        assert await rig.stock(reward) == 1
    finally:
        stack.start_service("points")
        await stack.wait_ready()
    # Points now places the hold it was asked for long ago, then releases it as rewards asked since.
    await eventually(lambda: balance_is(rig.points, member, 50), what="nothing held")

    async def hold_released() -> bool:
        body = (await rig.rewards.get(f"/v1/redemptions/{started['redemption_id']}")).json()
        return "hold_released" in [s["step"] for s in body["steps"]]

    await eventually(hold_released, what="the late hold released")
    await restart(stack, "rewards", signal.SIGTERM)  # back to the shared settings for the other tests
    results = await audit(rig.dsn, settle_s=0)
    failed = [c for c in results if not c.ok and "rewards" in c.name and started["redemption_id"] in str(c.examples)]
    assert not failed, render(results)
