"""docs/integrating.md, played: a municipal system on Node.js (kafkajs) publishes signed events and a
rider earns points, on the production-mode stack (a decision is accepted only with its signature).

The events go through clients/node/signed-producer.js, the code the guide shows; `make test` installs
kafkajs first (scripts/ensure-kafkajs).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from incentives_kernel import topics
from incentives_ops.demo import member_registered, report_submitted, status_changed
from incentives_ops.stack import Stack

from tests.security.boundary import apis, close, ledger
from tests.support import SIGNING_SECRETS, eventually, status_is, uid

PRODUCER = Path(__file__).resolve().parents[2] / "clients" / "node" / "signed-producer.js"


async def node_publish(bootstrap: str, messages: list[dict[str, object]]) -> str:
    node = shutil.which("node")
    assert node, "Node.js is installed by scripts/ensure-kafkajs (make test)"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(PRODUCER),
        bootstrap,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"KAFKAJS_NO_PARTITIONER_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    lines = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages).encode()
    out, err = await asyncio.wait_for(proc.communicate(lines), timeout=120)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return out.decode()


async def test_a_node_system_signs_a_registration_and_a_report_and_the_rider_earns_points(secure_stack: Stack) -> None:
    assert secure_stack.info is not None
    api = apis(secure_stack)
    member, report = uid("m-node"), uid("r-node")
    gateway, dispatch = SIGNING_SECRETS["rider-app-gateway"], SIGNING_SECRETS["dispatch-platform"]
    registered = {**member_registered(member, "nanqu"), "source": "/rider-app-gateway"}
    submitted = {**report_submitted(report, member, "nanqu", "sanitation"), "source": "/rider-app-gateway"}
    accepted = {**status_changed(report, "nanqu", "accepted", "环卫"), "source": "/dispatch"}
    try:
        sent = await node_publish(
            secure_stack.info.bootstrap,
            [
                {"topic": topics.MEMBERS, "key": member, "secret": gateway, "event": registered},
                {"topic": topics.REPORTS, "key": report, "secret": gateway, "event": submitted},
            ],
        )
        assert all(r["errorCode"] == 0 for r in json.loads(sent))
        await eventually(lambda: status_is(api["reports"], report, "submitted"), what="the report from Node")
        await node_publish(
            secure_stack.info.bootstrap,
            [{"topic": topics.REPORTS, "key": report, "secret": dispatch, "event": accepted}],
        )
        credits = await eventually(lambda: ledger(api["points"], member), what="the points", timeout=60)
        assert [c["kind"] for c in credits] == ["report"] and credits[0]["amount"] > 0
    finally:
        await close(api)
