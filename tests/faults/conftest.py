"""The system the fault tests break: its own embedded PostgreSQL and Tansu (so both can be restarted
and paused), and the four services as processes, started as `make run` starts them, on free ports."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from incentives_ops.embedded import free_port
from incentives_ops.stack import Stack, StackOptions

from tests.faults.harness import FaultRig, Scale, reset_results

REWARD = "faults-daily-goods"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rig() -> AsyncIterator[FaultRig]:
    state = Path(tempfile.mkdtemp(prefix="incentives-faults-"))
    stack = Stack(
        StackOptions(
            state_dir=state,
            pg_port=free_port(),
            kafka_port=free_port(),
            ports={name: free_port() for name in ("reports", "points", "rewards", "notify")},
            extra_env={"INCENTIVES_LOG_LEVEL": "INFO"},
        )
    )
    reset_results()
    try:
        info = await stack.start()
        await stack.wait_ready(timeout=180)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {info.operator_token}"}) as http:
            r = await http.post(
                info.urls["rewards"] + "/v1/rewards",
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
    finally:
        await asyncio.to_thread(stack.stop)
        keep = os.environ.get("INCENTIVES_TEST_LOGS")
        if keep:
            shutil.copytree(state / "logs", Path(keep) / "faults", dirs_exist_ok=True)
        shutil.rmtree(state, ignore_errors=True)
