"""Holds through the command and reply topics: place, capture, release, reject, expire, repeat."""

from __future__ import annotations

import json
from typing import Any

import pytest
from incentives_kernel import topics
from incentives_ops.demo import attendance_confirmed, cloud_event, member_registered
from incentives_ops.stack import Stack

from tests.support import Api, balance_is, eventually, publish, read_topic, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

REWARDS = "/tests/holds"  # hold commands sent by hand (not by the rewards service)


def command(type_: str, member: str, **data: Any) -> dict[str, Any]:
    return cloud_event(REWARDS, f"points.{type_}", data.get("hold_id", ""), {"member_id": member, **data})


async def funded(stack: Stack, points: Api, hours: float) -> str:
    assert stack.info is not None
    member = uid("m")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
    await publish(stack.info.bootstrap, topics.VOLUNTEER, member, attendance_confirmed(member, hours))
    await eventually(lambda: balance_is(points, member, int(hours * 10)), what="funding")
    return member


async def replies(stack: Stack, hold_id: str, count: int) -> list[dict[str, Any]]:
    assert stack.info is not None

    async def enough() -> list[dict[str, Any]] | None:
        found = await read_topic(
            stack.info.bootstrap,
            topics.POINTS_REPLIES,  # type: ignore[union-attr]
            lambda r: json.loads(r.value)["data"]["hold_id"] == hold_id,
            timeout=2,
        )
        events = [json.loads(r.value) for r in found]
        return events if len(events) >= count else None

    return await eventually(enough, what=f"{count} replies for {hold_id}")


async def test_place_then_capture_debits_once_and_repeats_are_answered_not_repeated(stack: Stack) -> None:
    assert stack.info is not None
    points = Api(stack.info.urls["points"], stack.info.gateway_token)
    member = await funded(stack, points, 5)  # 50
    hold = uid("h")
    place = command("place_hold", member, hold_id=hold, amount=30, reason="daily goods")
    await publish(stack.info.bootstrap, topics.POINTS_COMMANDS, member, place)
    [placed] = await replies(stack, hold, 1)
    assert placed["type"] == "points.hold_placed" and placed["data"]["available"] == 20
    balance = (await points.get(f"/v1/members/{member}/balance")).json()
    assert (balance["available"], balance["held"]) == (20, 30)

    capture = command("capture_hold", member, hold_id=hold)
    again = {**capture, "id": uid("evt")}  # a second capture command, as after a saga retry
    await publish(stack.info.bootstrap, topics.POINTS_COMMANDS, member, capture, again)
    events = await replies(stack, hold, 2)
    assert [e["type"] for e in events] == ["points.hold_placed", "points.hold_captured"]  # the repeat: same id
    await eventually(lambda: _held(points, member, 0), what="held back to 0")
    balance = (await points.get(f"/v1/members/{member}/balance")).json()
    assert (balance["available"], balance["held"], balance["earned_365d"]) == (20, 0, 50)  # spending is not unearning
    ledger = (await points.get(f"/v1/members/{member}/ledger")).json()["items"]
    assert [(x["kind"], x["amount"]) for x in ledger] == [("redemption", -30), ("volunteer", 50)]
    announced = await read_topic(
        stack.info.bootstrap, topics.POINTS, lambda r: r.key == member.encode() and b"points.debited" in r.value
    )
    assert [json.loads(r.value)["data"]["amount"] for r in announced] == [30]
    await points.aclose()


async def test_a_hold_beyond_the_available_balance_is_rejected(stack: Stack) -> None:
    assert stack.info is not None
    points = Api(stack.info.urls["points"], stack.info.gateway_token)
    member = await funded(stack, points, 2)  # 20
    first, second = uid("h"), uid("h")
    await publish(
        stack.info.bootstrap,
        topics.POINTS_COMMANDS,
        member,
        command("place_hold", member, hold_id=first, amount=15, reason="insurance"),
        command("place_hold", member, hold_id=second, amount=10, reason="check-up"),
    )
    [placed] = await replies(stack, first, 1)
    [rejected] = await replies(stack, second, 1)
    assert placed["type"] == "points.hold_placed"
    assert rejected["type"] == "points.hold_rejected"
    assert (rejected["data"]["reason"], rejected["data"]["available"]) == ("insufficient_points", 5)
    await points.aclose()


async def test_release_gives_points_back_and_an_expired_hold_cannot_be_captured(stack: Stack) -> None:
    assert stack.info is not None
    points = Api(stack.info.urls["points"], stack.info.gateway_token)
    member = await funded(stack, points, 3)  # 30
    released, expiring = uid("h"), uid("h")
    await publish(
        stack.info.bootstrap,
        topics.POINTS_COMMANDS,
        member,
        command("place_hold", member, hold_id=released, amount=10, reason="camp"),
        command("release_hold", member, hold_id=released, reason="redemption cancelled"),
        command("place_hold", member, hold_id=expiring, amount=20, reason="school", ttl_s=1),
    )
    events = await replies(stack, released, 2)
    assert [e["type"] for e in events] == ["points.hold_placed", "points.hold_released"]
    expired = await replies(stack, expiring, 2)  # placed, then expired by the service's own sweep
    assert expired[-1]["type"] == "points.hold_expired"
    await eventually(lambda: _held(points, member, 0), what="everything back")
    await publish(
        stack.info.bootstrap, topics.POINTS_COMMANDS, member, command("capture_hold", member, hold_id=expiring)
    )
    refused = await replies(stack, expiring, 3)
    assert refused[-1]["type"] == "points.hold_command_refused"
    assert (refused[-1]["data"]["reason"], refused[-1]["data"]["status"]) == ("hold_not_pending", "expired")
    assert (await points.get(f"/v1/members/{member}/balance")).json()["available"] == 30
    await points.aclose()


async def _held(points: Api, member: str, held: int) -> bool:
    body = await points.json_or_none(f"/v1/members/{member}/balance")
    return bool(body and body["held"] == held)
