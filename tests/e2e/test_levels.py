"""Star levels from points earned (not the balance), announced when they move; leaderboards with ties."""

from __future__ import annotations

import json
import uuid

import pytest
from incentives_kernel import topics
from incentives_ops.demo import attendance_confirmed, member_registered
from incentives_ops.stack import Stack

from tests.support import Api, balance_is, eventually, publish, read_topic, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


def api(stack: Stack, name: str, operator: bool = False) -> Api:
    assert stack.info is not None
    return Api(stack.info.urls[name], stack.info.operator_token if operator else stack.info.gateway_token)


async def test_level_rises_from_points_earned_and_spending_does_not_lower_it(stack: Stack) -> None:
    assert stack.info is not None
    member = uid("m")
    points, notify = api(stack, "points"), api(stack, "notify")
    operator = api(stack, "points", operator=True)
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
    await publish(
        stack.info.bootstrap,
        topics.VOLUNTEER,
        member,
        attendance_confirmed(member, 3),
        attendance_confirmed(member, 2.5),
    )  # 30 + 25 = 55 >= 50: one star
    balance = await eventually(lambda: balance_is(points, member, 55), what="volunteering credited")
    assert balance["star_level"] == 1 and balance["earned_365d"] == 55
    spend = await operator.post(
        "/v1/adjustments",
        json={"adjustment_id": uid("a"), "member_id": member, "amount": -40, "reason": "redeemed goods"},
    )
    assert spend.status_code == 201
    after = (await points.get(f"/v1/members/{member}/balance")).json()
    assert after["available"] == 15 and after["star_level"] == 1  # levels come from earning, not balance

    events = await read_topic(
        stack.info.bootstrap, topics.POINTS, lambda r: r.key == member.encode() and b"member.level_changed" in r.value
    )
    changes = [json.loads(r.value)["data"] for r in events]
    assert [(c["from_level"], c["to_level"], c["cause"]) for c in changes] == [(0, 1, "earned")]
    inbox = await eventually(lambda: _with_kind(notify, member, "level_changed"), what="level notification")
    assert "1 星" in inbox["title"]
    for client in (points, notify, operator):
        await client.aclose()


async def test_leaderboard_ranks_by_points_earned_with_shared_ranks_for_ties(stack: Stack) -> None:
    assert stack.info is not None
    district = f"d-{uuid.uuid4().hex[:6]}"  # a district of their own: the board holds only these riders
    riders = {uid("m"): hours for hours in (3, 1, 3, 2)}  # 30, 10, 30, 20 points
    points = api(stack, "points")
    for member, hours in riders.items():
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, district))
        await publish(stack.info.bootstrap, topics.VOLUNTEER, member, attendance_confirmed(member, hours))
    for member, hours in riders.items():
        await eventually(lambda m=member, h=hours: balance_is(points, m, h * 10), what="credits")
    for period in ("month", "year", "all"):
        board = (await points.get("/v1/leaderboard", district=district, period=period)).json()
        assert [(e["rank"], e["points"]) for e in board["items"]] == [(1, 30), (1, 30), (3, 20), (4, 10)], period
    await points.aclose()


async def _with_kind(notify: Api, member: str, kind: str) -> dict[str, object] | None:
    body = await notify.json_or_none(f"/v1/members/{member}/notifications")
    return next((n for n in (body or {}).get("items", []) if n["kind"] == kind), None)
