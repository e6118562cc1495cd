"""Instant redemptions end to end: the saga over HTTP and Kafka, its rejections, cancel and fulfil."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from incentives_kernel import topics
from incentives_ops.demo import attendance_confirmed, cloud_event, member_registered
from incentives_ops.provision import _with
from incentives_ops.stack import Stack
from rewards import vouchers

from tests.support import Api, balance_is, eventually, publish, read_topic, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


class Rig:
    """The running system as a rider app and an operator see it, plus a read-only look at rewards' tables."""

    def __init__(self, stack: Stack) -> None:
        assert stack.info is not None
        self.info = stack.info
        self.dsn = _with(stack.info.admin_dsn, database=stack.opt.database)
        self.points = Api(stack.info.urls["points"], stack.info.operator_token)
        self.rewards = Api(stack.info.urls["rewards"], stack.info.gateway_token)
        self.operator = Api(stack.info.urls["rewards"], stack.info.operator_token)

    async def member(self, *, hours: float = 0, district: str = "nanqu") -> str:
        """A registered member known to rewards, with points earned by volunteering (10 an hour)."""
        member = uid("m")
        await publish(self.info.bootstrap, topics.MEMBERS, member, member_registered(member, district))
        if hours:
            await publish(self.info.bootstrap, topics.VOLUNTEER, member, attendance_confirmed(member, hours))
        await eventually(lambda: balance_is(self.points, member, int(hours * 10)), what=f"{member} funded")
        await eventually(lambda: self.known_to_rewards(member), what=f"rewards knows {member}")
        return member

    async def known_to_rewards(self, member: str) -> bool:
        conn = await asyncpg.connect(self.dsn)
        try:
            return bool(await conn.fetchval("SELECT count(*) FROM rewards.members WHERE member_id = $1", member))
        finally:
            await conn.close()

    async def reward(self, **fields: Any) -> str:
        reward_id = uid("rw")
        body = {"reward_id": reward_id, "name": f"reward {reward_id}", "kind": "instant", "cost_points": 30, **fields}
        r = await self.operator.post("/v1/rewards", body)
        assert r.status_code == 201, r.text
        return reward_id

    async def redeem(self, member: str, reward: str, redemption_id: str | None = None) -> dict[str, Any]:
        r = await self.rewards.post(
            "/v1/redemptions", {"redemption_id": redemption_id or uid("rd"), "member_id": member, "reward_id": reward}
        )
        assert r.status_code == 202, r.text
        return dict(r.json())

    async def settled(self, redemption_id: str) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            body = await self.rewards.json_or_none(f"/v1/redemptions/{redemption_id}")
            return body if body and body["status"] != "pending" else None

        return await eventually(done, what=f"redemption {redemption_id} decided")

    async def stock(self, reward: str) -> int:
        rewards = (await self.rewards.get("/v1/rewards")).json()
        return int(next(r["stock_available"] for r in rewards if r["reward_id"] == reward))

    async def balance(self, member: str) -> dict[str, Any]:
        return dict((await self.points.get(f"/v1/members/{member}/balance")).json())

    async def events(self, member: str, count: int) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = await read_topic(self.info.bootstrap, topics.REWARDS, lambda r: r.key == member.encode(), timeout=2)
            events = [json.loads(r.value) for r in found]
            return events if len(events) >= count else None

        return await eventually(enough, what=f"{count} rewards events for {member}")


@pytest.fixture
def rig(stack: Stack) -> Rig:
    return Rig(stack)


async def test_http_redemption_confirms_debits_takes_stock_and_issues_a_voucher(rig: Rig) -> None:
    member = await rig.member(hours=5)  # 50 points
    reward = await rig.reward(initial_stock=3, cost_points=30)
    started = await rig.redeem(member, reward)
    assert started["status"] == "pending" and started["requested_via"] == "http"
    done = await rig.settled(started["redemption_id"])
    assert done["status"] == "confirmed", done
    assert vouchers.is_valid(done["voucher_code"])
    assert [s["step"] for s in done["steps"]] == [
        "requested",
        "stock_reserved",
        "hold_requested",
        "hold_placed",
        "hold_captured",
        "confirmed",
    ]
    balance = await rig.balance(member)
    assert (balance["available"], balance["held"]) == (20, 0)
    assert await rig.stock(reward) == 2
    [confirmed] = await rig.events(member, 1)
    assert confirmed["type"] == "redemption.confirmed"
    assert confirmed["data"]["voucher_code"] == done["voucher_code"]


async def test_the_same_redemption_id_over_http_and_kafka_is_processed_once(rig: Rig) -> None:
    member = await rig.member(hours=10)  # 100 points
    reward = await rig.reward(initial_stock=5, cost_points=30)
    redemption_id = uid("rd")
    requested = cloud_event(
        "/gateway",
        "redemption.requested",
        redemption_id,
        {"redemption_id": redemption_id, "member_id": member, "reward_id": reward},
    )
    again = {**requested, "id": uid("ev")}  # the same request, re-sent as a new event
    await publish(rig.info.bootstrap, topics.REDEMPTIONS, member, requested, again, requested)
    for _ in range(3):
        await rig.redeem(member, reward, redemption_id)
    done = await rig.settled(redemption_id)
    assert done["status"] == "confirmed"
    await asyncio.sleep(2)  # let any duplicate that slipped through show itself
    assert (await rig.balance(member))["available"] == 70
    assert await rig.stock(reward) == 4
    page = (await rig.rewards.get(f"/v1/members/{member}/redemptions")).json()
    assert [r["redemption_id"] for r in page["items"]] == [redemption_id]
    reused = await rig.rewards.post(
        "/v1/redemptions", {"redemption_id": redemption_id, "member_id": member, "reward_id": "other-reward"}
    )
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "redemption_id_reused"


async def test_rejections_carry_the_contract_reason_and_give_the_unit_back(rig: Rig) -> None:
    poor = await rig.member(hours=1)  # 10 points
    rich = await rig.member(hours=10, district="beiqu")
    reward = await rig.reward(initial_stock=5, cost_points=30)
    only_south = await rig.reward(initial_stock=5, districts=["nanqu"])
    starry = await rig.reward(initial_stock=5, min_star_level=3)
    once = await rig.reward(initial_stock=5, per_member_limit=1)
    closed = await rig.reward(initial_stock=5, active_until="2020-01-01T00:00:00+08:00")
    empty = await rig.reward(initial_stock=0)

    cases = [
        (poor, reward, "insufficient_points"),
        (uid("ghost"), reward, "unknown_member"),
        (rich, "no-such-reward", "reward_inactive"),
        (rich, closed, "reward_inactive"),
        (rich, only_south, "not_eligible"),
        (rich, starry, "not_eligible"),
        (rich, empty, "out_of_stock"),
    ]
    started = [await rig.redeem(m, r) for m, r, _ in cases]
    for case, body in zip(cases, started, strict=True):
        done = await rig.settled(body["redemption_id"])
        assert (done["status"], done["reason"]) == ("rejected", case[2]), done
        assert done["detail"]
    assert await rig.stock(reward) == 5  # the unit reserved for the poor member came back
    first = await rig.settled((await rig.redeem(rich, once))["redemption_id"])
    second = await rig.settled((await rig.redeem(rich, once))["redemption_id"])
    assert (first["status"], second["status"], second["reason"]) == ("confirmed", "rejected", "limit_reached"), (
        first["status"],
        first["reason"],
        first["detail"],
        second,
    )
    rejected = [e for e in await rig.events(poor, 1) if e["type"] == "redemption.rejected"]
    assert rejected and rejected[0]["data"]["reason"] == "insufficient_points"


async def test_cancel_returns_points_and_stock_and_fulfil_closes(rig: Rig) -> None:
    member = await rig.member(hours=10)  # 100
    reward = await rig.reward(initial_stock=2, cost_points=40)
    one = await rig.settled((await rig.redeem(member, reward))["redemption_id"])
    two = await rig.settled((await rig.redeem(member, reward))["redemption_id"])
    assert (one["status"], two["status"]) == ("confirmed", "confirmed")
    assert await rig.stock(reward) == 0

    cancelled = await rig.rewards.post(f"/v1/redemptions/{one['redemption_id']}/cancel", {"reason": "changed my mind"})
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_by"] == "member"
    assert await rig.stock(reward) == 1
    await eventually(lambda: balance_is(rig.points, member, 60), what="points refunded")
    again = await rig.rewards.post(f"/v1/redemptions/{one['redemption_id']}/cancel", {})
    assert again.status_code == 200 and again.json()["status"] == "cancelled"  # idempotent

    forbidden = await rig.rewards.post(f"/v1/redemptions/{two['redemption_id']}/fulfil")
    assert forbidden.status_code == 403
    fulfilled = await rig.operator.post(f"/v1/redemptions/{two['redemption_id']}/fulfil")
    assert fulfilled.status_code == 200 and fulfilled.json()["status"] == "fulfilled"
    assert fulfilled.json()["redeemed_by"].startswith("operator:")  # who handed it over, by the owning service
    late = await rig.rewards.post(f"/v1/redemptions/{two['redemption_id']}/cancel", {})
    assert late.status_code == 409 and late.json()["error"]["code"] == "not_cancellable"
    types = [e["type"] for e in await rig.events(member, 4)]
    assert types.count("redemption.confirmed") == 2
    assert "redemption.cancelled" in types and "redemption.fulfilled" in types
    missing = await rig.rewards.post("/v1/redemptions/nope/cancel", {})
    assert missing.status_code == 404


async def test_stock_changes_are_recorded_with_who_and_why(rig: Rig) -> None:
    reward = await rig.reward(initial_stock=4)
    r = await rig.operator.post(f"/v1/rewards/{reward}/stock", {"delta": -1, "reason": "damaged in storage"})
    assert r.status_code == 200 and r.json()["stock_available"] == 3
    too_many = await rig.operator.post(f"/v1/rewards/{reward}/stock", {"delta": -10, "reason": "typo"})
    assert too_many.status_code == 409
    changes = (await rig.operator.get(f"/v1/rewards/{reward}/stock-changes")).json()
    assert [(c["delta"], c["reason"], c["stock_after"]) for c in changes] == [
        (-1, "damaged in storage", 3),
        (4, "initial stock", 4),
    ]
    assert all(c["actor"].startswith("operator:") and len(c["actor"]) == len("operator:") + 12 for c in changes)
