"""On the running system: who may send what (allow-list) and signed sources, through to the DLQ."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from incentives_kernel import signing, topics
from incentives_kernel.envelope import encode_event
from incentives_kernel.intake import sign
from incentives_ops.demo import member_registered, report_submitted, status_changed
from incentives_ops.stack import Stack

from tests.security.conftest import SIGNED_SOURCE, SIGNING_KEY
from tests.support import Api, eventually, publish, read_topic, status_is, uid


@pytest_asyncio.fixture(loop_scope="session")
async def reports(secure_stack: Stack) -> AsyncIterator[Api]:
    assert secure_stack.info is not None
    api = Api(secure_stack.info.urls["reports"], secure_stack.info.operator_token)
    yield api
    await api.aclose()


async def dead_letters(stack: Stack, key: str) -> dict[str, str]:
    assert stack.info is not None
    dead = await read_topic(stack.info.bootstrap, topics.dlq_topic(topics.REPORTS), lambda r: r.key == key.encode())
    assert len(dead) == 1, [dict(d.headers) for d in dead]
    return {k: v.decode() for k, v in dead[0].headers}


async def submitted(stack: Stack, reports: Api) -> tuple[str, str]:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "signed"))
    await publish(stack.info.bootstrap, topics.REPORTS, report, report_submitted(report, member, "signed", "other"))
    await eventually(lambda: status_is(reports, report, "submitted"), what="the report")
    return member, report


async def test_a_rider_app_cannot_accept_its_own_report(secure_stack: Stack, reports: Api) -> None:
    assert secure_stack.info is not None
    _, report = await submitted(secure_stack, reports)
    forged = {**status_changed(report, "signed", "accepted", "消防"), "source": "/district/nanqu/rider-app"}
    real = status_changed(report, "nanqu", "dispatched", "消防")  # /district/nanqu/dispatch: allowed, unsigned
    await publish(secure_stack.info.bootstrap, topics.REPORTS, report, forged, real)
    await eventually(lambda: status_is(reports, report, "dispatched"), what="the genuine status")
    headers = await dead_letters(secure_stack, report)
    assert headers["error.reason"] == "source_not_allowed"
    assert "'/district/nanqu/rider-app' may not send report.status_changed" in headers["error.message"]
    metrics = (await reports.get("/metrics")).text
    assert f'incentives_reports_dlq_messages_total{{reason="source_not_allowed",topic="{topics.REPORTS}"}}' in metrics


async def test_a_forgery_does_not_suppress_the_genuine_event_with_the_same_id(
    secure_stack: Stack, reports: Api
) -> None:
    """Rejects are claimed by Kafka position, not by (source, id): the real one still counts."""
    assert secure_stack.info is not None
    _, report = await submitted(secure_stack, reports)
    # The same (source, id) twice: first a forgery (wrong key, says "rejected"), then the genuine one.
    genuine = {**status_changed(report, "signed", "accepted", "消防"), "source": SIGNED_SOURCE}
    fake = {**genuine, "data": {**genuine["data"], "status": "rejected", "reason": "fraudulent"}}
    fake_body, genuine_body = encode_event(fake), encode_event(genuine)
    bootstrap = secure_stack.info.bootstrap
    await publish(
        bootstrap, topics.REPORTS, report, fake_body, headers=sign(signing.new_secret(), fake["id"], fake_body)
    )
    await publish(
        bootstrap, topics.REPORTS, report, genuine_body, headers=sign(SIGNING_KEY, genuine["id"], genuine_body)
    )
    await eventually(lambda: status_is(reports, report, "accepted"), what="the genuine, signed status")
    headers = await dead_letters(secure_stack, report)
    assert headers["error.reason"] == "bad_signature"


@pytest.mark.parametrize(
    ("headers_for", "reason"),
    [
        (lambda event_id, body: [], "signature_missing"),
        (lambda event_id, body: sign(SIGNING_KEY, event_id, body, ts=int(time.time()) - 3600), "signature_expired"),
        (lambda event_id, body: sign(SIGNING_KEY, event_id + "x", body), "bad_signature"),
    ],
)
async def test_unsigned_old_or_misattributed_signatures_are_dead_lettered(
    secure_stack: Stack, reports: Api, headers_for, reason: str
) -> None:
    assert secure_stack.info is not None
    _, report = await submitted(secure_stack, reports)
    bad = encode_event({**status_changed(report, "signed", "accepted", "消防"), "source": SIGNED_SOURCE})
    event_id = json.loads(bad)["id"]
    await publish(secure_stack.info.bootstrap, topics.REPORTS, report, bad, headers=headers_for(event_id, bad))
    good = encode_event({**status_changed(report, "signed", "dispatched", "消防"), "source": SIGNED_SOURCE})
    good_id = json.loads(good)["id"]
    await publish(secure_stack.info.bootstrap, topics.REPORTS, report, good, headers=sign(SIGNING_KEY, good_id, good))
    await eventually(lambda: status_is(reports, report, "dispatched"), what="the next, well-signed status")
    headers = await dead_letters(secure_stack, report)
    assert headers["error.reason"] == reason
    shown = (await reports.get(f"/v1/reports/{report}")).json()
    assert shown["status"] == "dispatched", "the rejected status left no trace"
