"""Version 2 end to end: star-rider awards (a zero-cost round ranked by star level), the public notice
with a disqualification that promotes the next in line, places a round cannot exceed, vouchers that a
listed provider redeems once (not an unlisted one, not after expiry), and the nearest providers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from incentives_kernel import topics
from incentives_ops import cli, demo_awards
from incentives_ops.demo import cloud_event
from incentives_ops.stack import Stack

from tests.e2e.test_allocation import application, inbox_has, level_known
from tests.e2e.test_redemptions import Rig
from tests.support import Api, balance_is, eventually, publish, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def rig(stack: Stack) -> Rig:
    return Rig(stack)


async def sql(rig: Rig, statement: str, *args: Any) -> None:
    """Move the clock of one row forward (a notice or a voucher that would otherwise end in days)."""
    conn = await asyncpg.connect(rig.dsn)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


def provider_api(rig: Rig, provider_id: str) -> Api:
    token = rig.info.provider_token(provider_id)
    assert token, f"the stack made no token for {provider_id}"
    return Api(rig.info.urls["rewards"], token)


async def open_round(rig: Rig, reward: str, quota: int) -> Any:
    return await rig.operator.post(
        "/v1/allocation-rounds",
        {
            "round_id": uid("award"),
            "reward_id": reward,
            "quota": quota,
            "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
    )


async def test_an_award_round_ranks_by_stars_and_a_disqualification_in_notice_promotes_the_next(rig: Rig) -> None:
    two, one, none = await rig.member(hours=24), await rig.member(hours=6), await rig.member(hours=2)
    for member, level in [(two, 2), (one, 1)]:
        await eventually(lambda m=member, lv=level: level_known(rig, m, lv), what=f"{member} at {level} stars")
    award = await rig.reward(kind="allocation", cost_points=0, places=2, notice_days=5, name="Star rider: school place")

    # The award has 2 places: a round of 1 and then one of 2 would promise 3.
    opened = await open_round(rig, award, 1)
    assert opened.status_code == 201, opened.text
    too_many = await open_round(rig, award, 2)
    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "exceeds_places", too_many.text
    round_id = opened.json()["round_id"]

    path = f"/v1/allocation-rounds/{round_id}/applications"
    applied = await asyncio.gather(*[rig.rewards.post(path, {"member_id": m}) for m in (none, one, two)])
    assert [r.status_code for r in applied] == [202] * 3
    assert {r.json()["status"] for r in applied} == {"held"}  # an award holds no points: nothing to wait for

    closed = await rig.operator.post(f"/v1/allocation-rounds/{round_id}/close")
    assert closed.status_code == 200, closed.text
    result = closed.json()
    assert (result["status"], result["result_status"]) == ("closed", "provisional")
    ranking = sorted(result["applications"], key=lambda a: a["rank"])
    assert [a["member_id"] for a in ranking] == [two, one, none]
    assert [a["won_at_close"] for a in ranking] == [True, False, False]
    won = await eventually(lambda: application(rig, round_id, two, "won"), what="the two-star rider won")
    assert (await rig.balance(two))["available"] == 240  # an award costs nothing

    # The public notice: masked ids, readable with a gateway token.
    notice = (await rig.rewards.get(f"/v1/allocation-rounds/{round_id}/notice")).json()
    assert notice["status"] == "provisional" and notice["notice_ends_at"]
    assert [e["member"] for e in notice["ranking"]] == [f"m-****{m[-2:]}" for m in (two, one, none)]
    assert two not in str(notice)
    assert [e["status"] for e in notice["ranking"]] == ["holds_place", "not_placed", "not_placed"]
    listed = (await rig.operator.get("/v1/allocation-rounds", status="provisional", limit=200)).json()
    assert round_id in [r["round_id"] for r in listed["items"]]

    # A voucher of a place under notice cannot be redeemed yet.
    voucher = (await rig.rewards.get(f"/v1/redemptions/{won['redemption_id']}")).json()["voucher_code"]
    station = provider_api(rig, "demo-station")
    try:
        early = await station.post(f"/v1/vouchers/{voucher}/redeem")
        assert early.status_code == 409 and early.json()["error"]["code"] == "in_notice", early.text
    finally:
        await station.aclose()

    # An operator disqualifies the winner (the phone number in the reason is masked); the next takes the place.
    out = await rig.operator.post(
        f"/v1/allocation-rounds/{round_id}/disqualifications",
        {"member_id": two, "reason": "two accounts, second one on 13812345678"},
    )
    assert out.status_code == 201, out.text
    assert out.json()["promoted"] == one and "13812345678" not in out.json()["reason"]
    again = await rig.operator.post(
        f"/v1/allocation-rounds/{round_id}/disqualifications", {"member_id": two, "reason": "again"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_a_winner"
    await eventually(lambda: application(rig, round_id, one, "won"), what="the next in line took the place")
    notify = Api(rig.info.urls["notify"], rig.info.gateway_token)
    try:
        told = await eventually(lambda: inbox_has(notify, two, "allocation_disqualified"), what="disqualified told")
        assert "13812345678" not in told["body"] and told["title"]
        await eventually(lambda: inbox_has(notify, one, "allocation_won"), what="the promoted rider told")
    finally:
        await notify.aclose()

    # verify-round re-computes the ranking and checks the disqualification and the promotion.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = await asyncio.to_thread(
            cli.main,
            ["verify-round", round_id, "--rewards-url", rig.info.urls["rewards"], "--token", rig.info.gateway_token],
        )
    assert code == 0 and "verdict: MATCHES" in printed.getvalue(), printed.getvalue()
    assert "disqualified" in printed.getvalue()

    # The notice ends (its clock moved to now): the job makes the result final.
    await sql(rig, "UPDATE rewards.allocation_rounds SET notice_ends_at = now() WHERE round_id = $1", round_id)

    async def final() -> bool:
        return (await rig.rewards.get(f"/v1/allocation-rounds/{round_id}")).json()["result_status"] == "final"

    await eventually(final, what="the result final")
    late = await rig.operator.post(
        f"/v1/allocation-rounds/{round_id}/disqualifications", {"member_id": one, "reason": "too late"}
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "not_in_notice"


async def test_a_voucher_is_redeemed_once_by_a_listed_provider_and_not_after_expiry(rig: Rig) -> None:
    member, other = await rig.member(hours=3), await rig.member(hours=3)
    reward = await rig.reward(cost_points=10, initial_stock=5, providers=["demo-station"], refund_on_expiry=True)
    bought = [await rig.settled((await rig.redeem(m, reward))["redemption_id"]) for m in (member, other)]
    assert [b["status"] for b in bought] == ["confirmed", "confirmed"]
    first, second = bought
    assert first["voucher_code"] and first["expires_at"]
    assert datetime.fromisoformat(first["expires_at"]) > datetime.now(UTC) + timedelta(days=89)
    code = first["voucher_code"]
    station, shop = provider_api(rig, "demo-station"), provider_api(rig, "demo-shop")
    try:
        assert (await rig.rewards.get(f"/v1/vouchers/{code}")).status_code == 403  # the gateway is no provider
        assert (await station.get("/v1/rewards")).status_code == 403  # and a provider reaches only the vouchers
        seen = await station.get(f"/v1/vouchers/{code}")
        assert seen.status_code == 200 and seen.json()["status"] == "valid" and member not in seen.text
        unlisted = await shop.post(f"/v1/vouchers/{code}/redeem")
        assert unlisted.status_code == 403 and unlisted.json()["error"]["code"] == "provider_not_listed"

        redeemed = await station.post(f"/v1/vouchers/{code.lower()}/redeem")  # as typed at a counter
        assert redeemed.status_code == 200, redeemed.text
        assert (redeemed.json()["status"], redeemed.json()["redeemed_by"]) == ("redeemed", "demo-station")
        twice = await station.post(f"/v1/vouchers/{code}/redeem")
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_redeemed"
        after = (await rig.rewards.get(f"/v1/redemptions/{first['redemption_id']}")).json()
        assert (after["status"], after["redeemed_by"]) == ("fulfilled", "demo-station")
        assert any("demo-station" in (s["detail"] or "") for s in after["steps"])
        events = await rig.events(member, 2)
        assert events[-1]["type"] == "redemption.fulfilled"
        notify = Api(rig.info.urls["notify"], rig.info.gateway_token)
        try:
            await eventually(lambda: inbox_has(notify, member, "redemption_fulfilled"), what="the rider told")
        finally:
            await notify.aclose()

        # The other voucher's validity ends (its clock moved back): refused, then expired with points refunded.
        await sql(
            rig,
            "UPDATE rewards.redemptions SET expires_at = now() - interval '1 second' WHERE redemption_id = $1",
            second["redemption_id"],
        )
        expired = await station.post(f"/v1/vouchers/{second['voucher_code']}/redeem")
        assert expired.status_code == 409 and expired.json()["error"]["code"] == "expired", expired.text

        async def gone() -> bool:
            r = await rig.rewards.get(f"/v1/redemptions/{second['redemption_id']}")
            return bool(r.json()["status"] == "expired")

        await eventually(gone, what="the voucher expired")
        await eventually(lambda: balance_is(rig.points, other, 30), what="points refunded by the reward's policy")
    finally:
        await station.aclose()
        await shop.aclose()


async def test_the_rider_app_lists_providers_nearest_first(rig: Rig) -> None:
    # A spot of the map no other test uses, and providers at known distances from it.
    lat, lon = 30 + random.random(), 100 + random.random()  # a place, not a secret
    spots = {"far": 0.02, "near": 0.001, "middle": 0.01}
    ids = {}
    for name, offset in spots.items():
        ids[name] = uid(f"pv-{name}")
        body = {
            "provider_id": ids[name],
            "name": f"蜂享驿站 {name}",
            "kind": "station",
            "address": f"{name} road 1",
            "location": {"lat": lat + offset, "lon": lon},
            "opening_hours": "Mo-Su 08:00-22:00",
        }
        r = await rig.operator.post("/v1/providers", body)
        assert r.status_code == 201, r.text
    found = await rig.rewards.get("/v1/providers", near=f"{lat},{lon}", limit=3)
    assert found.status_code == 200, found.text
    assert [p["provider_id"] for p in found.json()] == [ids["near"], ids["middle"], ids["far"]]
    distances = [p["distance_m"] for p in found.json()]
    assert 100 < distances[0] < 120 and distances == sorted(distances)
    bad = await rig.rewards.get("/v1/providers", near="north")
    assert bad.status_code == 422


async def test_a_close_while_holds_are_unanswered_waits_for_them(rig: Rig, stack: Stack) -> None:
    # Points is down while two riders apply, so their holds stay unanswered (as replies on their way
    # would be). Closed now, the round waits (`closing`) instead of declaring both lost with
    # `hold_unconfirmed`; once points answers, the job closes it on what points committed.
    strong, weak = await rig.member(hours=24), await rig.member(hours=6)
    for member, level in [(strong, 2), (weak, 1)]:
        await eventually(lambda m=member, lv=level: level_known(rig, m, lv), what=f"{member} at {level} stars")
    reward = await rig.reward(kind="allocation", cost_points=20, notice_days=0)
    round_id = (await open_round(rig, reward, 1)).json()["round_id"]
    await asyncio.to_thread(stack.stop_service, "points", signal.SIGTERM)
    try:
        for member in (strong, weak):
            r = await rig.rewards.post(f"/v1/allocation-rounds/{round_id}/applications", {"member_id": member})
            assert (r.status_code, r.json()["status"]) == (202, "pending"), r.text
        closed = await rig.operator.post(f"/v1/allocation-rounds/{round_id}/close")
        assert closed.status_code == 200 and closed.json()["status"] == "closing", closed.text
        assert {a["status"] for a in closed.json()["applications"]} == {"pending"}
        late = await rig.rewards.post(f"/v1/allocation-rounds/{round_id}/applications", {"member_id": uid("m")})
        assert late.status_code == 409 and late.json()["error"]["code"] == "round_not_open"
    finally:
        stack.start_service("points")
        await stack.wait_ready()

    async def result() -> dict[str, Any] | None:
        body = (await rig.rewards.get(f"/v1/allocation-rounds/{round_id}")).json()
        return dict(body) if body["status"] == "closed" else None

    final = await eventually(result, what="the round closed")
    assert final["result_status"] == "final"  # notice_days 0: no public notice
    assert {a["member_id"]: a["reason"] for a in final["applications"]}[weak] == "outranked"
    assert all(a["reason"] != "hold_unconfirmed" for a in final["applications"])
    await eventually(lambda: application(rig, round_id, strong, "won"), what="the strongest won and paid")
    await eventually(lambda: balance_is(rig.points, strong, 220), what="the winner's points captured")


async def test_the_embedded_demo_walks_the_award_and_voucher_path(stack: Stack) -> None:
    assert stack.info is not None
    said: list[str] = []
    done = await demo_awards.run(stack.info, said.append)
    assert done["notice"]["status"] == "provisional"
    assert [e["status"] for e in done["notice"]["ranking"]] == ["holds_place", "not_placed", "not_placed"]
    assert len(done["vouchers"]) == 2 and any("redeemed by demo-station" in line for line in said)


async def test_a_provider_registered_on_the_directory_topic_is_listed(rig: Rig) -> None:
    provider_id = uid("pv-dir")
    data = {
        "provider_id": provider_id,
        "name": "爱心驿站 Love station",
        "kind": "hospital",
        "address": "xincheng 3",
        "location": {"lat": 31.5, "lon": 121.5},
        "opening_hours": "24/7",
    }
    older = cloud_event("/provider-registry", "provider.updated", provider_id, {**data, "name": "old name"})
    older["time"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    registered = cloud_event("/provider-registry", "provider.registered", provider_id, data)
    await publish(rig.info.bootstrap, topics.DIRECTORY, provider_id, registered, older)

    async def listed() -> dict[str, Any] | None:
        return await rig.rewards.json_or_none(f"/v1/providers/{provider_id}")

    found = await eventually(listed, what="the provider registered from Kafka")
    assert (found["kind"], found["location"]) == ("hospital", {"lat": 31.5, "lon": 121.5})
    assert found["created_by"] == found["updated_by"] == "source:/provider-registry"  # who registered it

    async def outcome() -> str | None:
        conn = await asyncpg.connect(rig.dsn)
        try:
            found = await conn.fetchval("SELECT outcome FROM rewards.inbox WHERE event_id = $1", older["id"])
            return str(found) if found else None
        finally:
            await conn.close()

    assert await eventually(outcome, what="the older update handled") == "ignored"  # stale: arrived later
    assert (await listed() or {})["name"] == "爱心驿站 Love station"
