"""Points rules through the running services: reversal after fraud, the daily cap, volunteering."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from incentives_kernel import topics
from incentives_ops.demo import attendance_confirmed, cloud_event, member_registered, report_submitted, status_changed
from incentives_ops.stack import Stack

from tests.support import Api, balance_is, eventually, publish, read_topic, uid

SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


def api(stack: Stack, name: str) -> Api:
    assert stack.info is not None
    return Api(stack.info.urls[name], stack.info.gateway_token)


async def test_fraud_found_after_resolution_reverses_the_points_with_a_compensating_entry(stack: Stack) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    points, notify = api(stack, "points"), api(stack, "notify")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        report_submitted(report, member, "nanqu", "fire_hazard"),
        status_changed(report, "nanqu", "resolved", "消防"),
        status_changed(report, "nanqu", "rejected", "消防", reason="fraudulent"),
    )
    await eventually(lambda: _ledger_kinds(points, member, 2), what="credit then reversal")
    await eventually(lambda: balance_is(points, member, 0), what="balance back to zero")
    ledger = (await points.get(f"/v1/members/{member}/ledger")).json()["items"]
    assert [(x["kind"], x["amount"]) for x in ledger] == [("reversal", -10), ("report", 10)]  # newest first
    assert "fraudulent" in ledger[0]["reason"]
    balance = (await points.get(f"/v1/members/{member}/balance")).json()
    assert balance["earned_365d"] == 0  # credits less reversals
    events = await read_topic(stack.info.bootstrap, topics.POINTS, lambda r: r.key == member.encode())
    types = [dict(r.headers)["ce_type"].decode() for r in events]
    assert types == ["points.credited", "points.reversed"]
    inbox = await eventually(
        lambda: _kinds(notify, member, {"points_credited", "points_reversed"}), what="reversal notification"
    )
    reversal = next(n for n in inbox if n["kind"] == "points_reversed")
    assert "虚假上报" in reversal["body"] and "10" in reversal["body"]
    await points.aclose()
    await notify.aclose()


async def test_reversal_may_take_the_balance_below_zero(stack: Stack) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    points = api(stack, "points")
    operator = Api(stack.info.urls["points"], stack.info.operator_token)
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "beiqu"))
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        report_submitted(report, member, "beiqu", "road_damage"),
        status_changed(report, "beiqu", "accepted", "市政"),
    )
    await eventually(lambda: balance_is(points, member, 6), what="credit")
    spent = await operator.post(
        "/v1/adjustments",
        json={"adjustment_id": uid("adj"), "member_id": member, "amount": -4, "reason": "spent at the shop"},
    )
    assert spent.status_code == 201
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        status_changed(report, "beiqu", "rejected", "市政", reason="invalid"),
    )
    await eventually(lambda: balance_is(points, member, -4), what="the reversal below zero")
    await points.aclose()
    await operator.aclose()


async def test_the_daily_cap_cuts_report_points_and_says_why(stack: Stack) -> None:
    assert stack.info is not None
    member = uid("m")
    points, notify = api(stack, "points"), api(stack, "notify")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "xincheng"))
    # 6 fire hazards x 10 = 60 > 50. One moment for all six acceptances, so they fall on one
    # Shanghai day whenever the test runs: never a future one, nor one before a report's submission
    # (the contract's "Event time" rule), so the reports are submitted first.
    submitted = [report_submitted(uid("r"), member, "xincheng", "fire_hazard") for _ in range(6)]
    moment = datetime.now(SHANGHAI).isoformat()
    for event in submitted:
        report = event["data"]["report_id"]
        accepted = status_changed(report, "xincheng", "accepted", "消防")
        accepted["data"]["changed_at"] = moment
        await publish(stack.info.bootstrap, topics.REPORTS, report, event, accepted)
    await eventually(lambda: _ledger_kinds(points, member, 6), what="five credits and one cut")
    ledger = (await points.get(f"/v1/members/{member}/ledger")).json()["items"]
    assert sum(x["amount"] for x in ledger) == 50
    cut = [x for x in ledger if x["kind"] == "capped"]
    assert len(cut) == 1 and cut[0]["amount"] == 0 and "daily cap of 50" in cut[0]["reason"]
    assert (await points.get(f"/v1/members/{member}/balance")).json()["available"] == 50
    # Volunteering is not report-related: it still earns that day.
    await publish(stack.info.bootstrap, topics.VOLUNTEER, member, attendance_confirmed(member, 2.7))
    await eventually(lambda: balance_is(points, member, 75), what="volunteering beyond the cap")
    await eventually(lambda: _kinds(notify, member, {"points_capped"}), what="the rider is told")
    await points.aclose()
    await notify.aclose()


async def test_a_revoked_attendance_is_reversed_and_a_repeat_confirmation_earns_nothing(stack: Stack) -> None:
    assert stack.info is not None
    member = uid("m")
    points = api(stack, "points")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
    confirmed = attendance_confirmed(member, 2)
    again = {**confirmed, "id": uid("evt")}  # another event announcing the same attendance
    await publish(stack.info.bootstrap, topics.VOLUNTEER, member, confirmed, again)
    await eventually(lambda: balance_is(points, member, 20), what="one credit for one attendance")
    revoked = cloud_event(
        "/volunteer-platform",
        "volunteer.attendance_revoked",
        member,
        {"attendance_id": confirmed["data"]["attendance_id"], "member_id": member, "reason": "no-show"},
    )
    await publish(stack.info.bootstrap, topics.VOLUNTEER, member, revoked)
    await eventually(lambda: _ledger_kinds(points, member, 2), what="the reversal")
    assert (await points.get(f"/v1/members/{member}/balance")).json()["available"] == 0
    await points.aclose()


async def _kinds(notify: Api, member: str, wanted: set[str]) -> list[dict[str, object]] | None:
    body = await notify.json_or_none(f"/v1/members/{member}/notifications")
    items = body["items"] if body else []
    return items if wanted <= {n["kind"] for n in items} else None


async def _ledger_kinds(points: Api, member: str, count: int) -> bool:
    body = await points.json_or_none(f"/v1/members/{member}/ledger")
    return bool(body and len(body["items"]) >= count)
