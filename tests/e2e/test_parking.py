"""Events that overtake what they depend on wait, and are applied when it arrives (or dead-lettered).

Other producers publish on other topics and partitions: a status may arrive before its report, and
an event earning points before the member's registration. Nothing is lost and nothing is applied
to the wrong state.
"""

from __future__ import annotations

import asyncio

import pytest
from incentives_kernel import topics
from incentives_ops.demo import member_registered, report_submitted, status_changed
from incentives_ops.stack import Stack

from tests.conftest import PARK_GRACE_S
from tests.support import Api, balance_is, eventually, publish, read_topic, status_is, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


def api(stack: Stack, name: str) -> Api:
    assert stack.info is not None
    return Api(stack.info.urls[name], stack.info.gateway_token)


async def test_status_before_its_report_is_applied_when_the_report_arrives(stack: Stack) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    reports, points = api(stack, "reports"), api(stack, "points")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
    # Submitted first (the statuses are dated after it: a status before its submission is refused),
    # delivered last.
    submitted = report_submitted(report, member, "nanqu", "shared_bike_parking")
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        status_changed(report, "nanqu", "dispatched", "城管"),
        status_changed(report, "nanqu", "accepted", "城管"),
    )
    await asyncio.sleep(1.0)  # both are parked: there is no report yet
    assert (await reports.get(f"/v1/reports/{report}")).status_code == 404
    await publish(stack.info.bootstrap, topics.REPORTS, report, submitted)

    shown = await eventually(lambda: status_is(reports, report, "accepted"), what="parked statuses applied in order")
    assert [h["status"] for h in shown["history"]] == ["submitted", "dispatched", "accepted"]
    balance = await eventually(lambda: balance_is(points, member, 5), what="points for the report")
    assert balance["earned_365d"] == 5
    await reports.aclose()
    await points.aclose()


async def test_points_wait_for_the_members_registration(stack: Stack) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    points, notify = api(stack, "points"), api(stack, "notify")
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        report_submitted(report, member, "xincheng", "fire_hazard"),
        status_changed(report, "xincheng", "accepted", "消防"),
    )
    await asyncio.sleep(1.5)  # verified by reports, parked by points: the member is unknown there
    assert (await points.get(f"/v1/members/{member}/balance")).status_code == 404
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "xincheng"))

    await eventually(lambda: balance_is(points, member, 10), what="the parked credit applied")
    ledger = (await points.get(f"/v1/members/{member}/ledger")).json()["items"]
    assert [(x["kind"], x["amount"]) for x in ledger] == [("report", 10)]
    await eventually(lambda: notify.json_or_none(f"/v1/members/{member}/notifications"), what="notification")
    await points.aclose()
    await notify.aclose()


async def test_an_event_that_waits_in_vain_is_dead_lettered_with_its_reason(stack: Stack) -> None:
    assert stack.info is not None
    report = uid("r")
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        status_changed(report, "nanqu", "dispatched", "城管"),
        headers=[("traceparent", b"00-abc-def-01")],
    )
    dead = await read_topic(
        stack.info.bootstrap,
        topics.dlq_topic(topics.REPORTS),
        lambda r: r.key == report.encode(),
        timeout=PARK_GRACE_S + 20,
    )
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["error.reason"] == "parked_too_long"
    assert f"report:{report}" in headers["error.message"]
    assert headers["original.topic"] == topics.REPORTS
    assert headers["traceparent"] == "00-abc-def-01"  # the record's own headers are kept
