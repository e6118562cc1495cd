"""Helpers of the boundary attacks (tests/security/test_attack_*.py), on the production-mode `secure_stack`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from incentives_kernel import topics
from incentives_ops.demo import member_registered, report_submitted
from incentives_ops.stack import Stack

from tests.support import Api, eventually, publish, read_topic, status_is, uid


def apis(stack: Stack) -> dict[str, Api]:
    assert stack.info is not None
    return {name: Api(url, stack.info.operator_token) for name, url in stack.info.urls.items()}


async def close(apis_: dict[str, Api]) -> None:
    for api in apis_.values():
        await api.aclose()


async def registered_member(stack: Stack, points: Api, district: str = "nanqu") -> str:
    """A member registered (signed by the rider-app gateway, as production requires) and known to points."""
    assert stack.info is not None
    member = uid("m")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, district))
    await eventually(lambda: points.json_or_none(f"/v1/members/{member}/balance"), what="the registration")
    return member


async def submitted_report(stack: Stack, reports: Api, member: str, district: str = "nanqu") -> str:
    assert stack.info is not None
    report = uid("r")
    await publish(stack.info.bootstrap, topics.REPORTS, report, report_submitted(report, member, district, "other"))
    await eventually(lambda: status_is(reports, report, "submitted"), what="the report")
    return report


async def dead_letters(stack: Stack, topic: str, key: str, count: int = 1) -> list[dict[str, str]]:
    """The dead letters of `topic` with record key `key`, once there are `count` of them (headers decoded)."""
    assert stack.info is not None
    bootstrap = stack.info.bootstrap

    async def enough() -> list[dict[str, str]] | None:
        dead = await read_topic(bootstrap, topics.dlq_topic(topic), lambda r: r.key == key.encode(), timeout=3)
        return [{k: v.decode(errors="replace") for k, v in d.headers} for d in dead] if len(dead) >= count else None

    return await eventually(enough, what=f"{count} dead letter(s) of {key} on {topic}", timeout=60)


async def ledger(points: Api, member: str) -> list[dict[str, Any]]:
    body = await points.json_or_none(f"/v1/members/{member}/ledger")
    return list(body["items"]) if body else []


async def serve_refusal(stack: Stack, service: str, env: dict[str, str]) -> tuple[int, str]:
    """Start `incentives serve <service>` with the stack's environment changed by `env`; it must exit.

    Returns (exit code, output). Settings are checked before anything is opened, so a refusal is quick.
    """
    full = {**stack.service_env(service), **env}
    for name in [k for k, v in env.items() if v is None]:
        full.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "incentives_ops.cli",
        "serve",
        service,
        env={k: v for k, v in full.items() if v is not None},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")
