"""The system the fault tests break: its own embedded PostgreSQL and Tansu (so both can be restarted
and paused), and the four services as processes, started as `make run` starts them, on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from tests.faults.harness import FaultRig, Scale, reset_results
from tests.support import isolated_stack

REWARD = "faults-daily-goods"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rig() -> AsyncIterator[FaultRig]:
    reset_results()
    async with isolated_stack("incentives-faults-", {"INCENTIVES_LOG_LEVEL": "INFO"}) as stack:
        assert stack.info is not None
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {stack.info.operator_token}"}) as http:
            r = await http.post(
                stack.info.urls["rewards"] + "/v1/rewards",
                json={
                    "reward_id": REWARD,
                    "name": "daily goods",
                    "kind": "instant",
                    "cost_points": 10,
                    "initial_stock": 25,
                },
            )
            assert r.status_code == 201, r.text
        yield FaultRig(stack, Scale.from_env(), REWARD)
