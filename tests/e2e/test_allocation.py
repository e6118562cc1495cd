"""An allocation round end to end: applications with held cost, the close, a seeded lottery for ties,
the independent re-computation, winners paying, losers released, and a freed place passed on."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from incentives_ops import cli
from incentives_ops.stack import Stack
from incentives_ops.verify_round import check

from tests.e2e.test_redemptions import Rig
from tests.support import Api, balance_is, eventually, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SEED = "seed-for-the-test-0123456789abcdef"


@pytest.fixture
def rig(stack: Stack) -> Rig:
    return Rig(stack)


async def level_known(rig: Rig, member: str, level: int) -> bool:
    conn = await asyncpg.connect(rig.dsn)
    try:
        known = await conn.fetchval("SELECT star_level FROM rewards.member_standing WHERE member_id = $1", member)
        return known == level
    finally:
        await conn.close()


async def inbox_has(notify: Api, member: str, kind: str) -> dict[str, Any] | None:
    page = await notify.json_or_none(f"/v1/members/{member}/notifications")
    return next((n for n in page["items"] if n["kind"] == kind), None) if page else None


async def application(rig: Rig, round_id: str, member: str, status: str) -> dict[str, Any] | None:
    body = await rig.rewards.json_or_none(f"/v1/allocation-rounds/{round_id}")
    if not body:
        return None
    mine = next(a for a in body["applications"] if a["member_id"] == member)
    return dict(mine) if mine["status"] == status else None


async def test_round_ranks_by_stars_then_points_then_lottery_and_passes_a_freed_place_on(rig: Rig) -> None:
    star = await rig.member(hours=24)  # 240 earned: 2 stars
    tied = [await rig.member(hours=6) for _ in range(4)]  # 60 earned each: 1 star, the same figures
    novice = await rig.member(hours=2)  # 20 earned: 0 stars
    for member, level in [(star, 2), *[(m, 1) for m in tied]]:
        await eventually(lambda m=member, lv=level: level_known(rig, m, lv), what=f"{member} at {level} stars")
    reward = await rig.reward(kind="allocation", cost_points=20, min_star_level=1)

    round_id = uid("round")
    opened = await rig.operator.post(
        "/v1/allocation-rounds",
        {
            "round_id": round_id,
            "reward_id": reward,
            "quota": 2,
            "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "seed": SEED,
        },
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["seed"] is None and opened.json()["server_seed"] is None  # hidden until the close
    committed = opened.json()["seed_sha256"]
    assert committed != hashlib.sha256(SEED.encode()).hexdigest()  # the operator's seed alone is not the seed

    applied = await asyncio.gather(
        *[rig.rewards.post(f"/v1/allocation-rounds/{round_id}/applications", {"member_id": m}) for m in [star, *tied]]
    )
    assert [r.status_code for r in applied] == [202] * 5
    refused = await rig.rewards.post(f"/v1/allocation-rounds/{round_id}/applications", {"member_id": novice})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_eligible"
    for member in [star, *tied]:
        await eventually(lambda m=member: application(rig, round_id, m, "held"), what=f"{member}'s cost held")
    assert (await rig.balance(star))["held"] == 20

    closed = await rig.operator.post(f"/v1/allocation-rounds/{round_id}/close")
    assert closed.status_code == 200, closed.text
    result = closed.json()
    assert result["status"] == "closed" and result["operator_seed"] == SEED
    # The seed mixes the server's randomness drawn at opening with the operator's: committed then, shown now.
    seed = hashlib.sha256(f"{result['server_seed']}:{SEED}".encode()).hexdigest()
    assert result["seed"] == seed and hashlib.sha256(seed.encode()).hexdigest() == committed
    ranking = sorted(result["applications"], key=lambda a: a["rank"])
    # Stars first; the four with equal stars, points and (hourly) application time are ordered by the
    # lottery: HMAC-SHA256(seed, "round:member"), lowest first, computed here independently.
    tickets = {m: hmac.new(seed.encode(), f"{round_id}:{m}".encode(), hashlib.sha256).hexdigest() for m in tied}
    assert [a["member_id"] for a in ranking] == [star, *sorted(tied, key=tickets.__getitem__)]
    assert [a["tie_broken_by_lottery"] for a in ranking] == [False, True, True, True, True]
    assert [a["won_at_close"] for a in ranking] == [True, True, False, False, False]
    assert [(a["star_level"], a["earned_365d"]) for a in ranking] == [(2, 240)] + [(1, 60)] * 4
    winner, runner_up, *_ = [a["member_id"] for a in ranking[1:]]

    # The documented command re-computes the result from what GET returns, and notices tampering.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = await asyncio.to_thread(
            cli.main,
            ["verify-round", round_id, "--rewards-url", rig.info.urls["rewards"], "--token", rig.info.gateway_token],
        )
    assert code == 0 and "verdict: MATCHES" in out.getvalue(), out.getvalue()
    tampered = {**result, "applications": [dict(a) for a in result["applications"]]}
    next(a for a in tampered["applications"] if a["member_id"] == runner_up)["earned_365d"] = 61
    assert check(tampered)[1] is False

    for member in (star, winner):
        won = await eventually(lambda m=member: application(rig, round_id, m, "won"), what=f"{member} won")
        voucher = (await rig.rewards.get(f"/v1/redemptions/{won['redemption_id']}")).json()["voucher_code"]
        assert voucher
    await eventually(lambda: balance_is(rig.points, star, 220), what="the star paid")
    for loser in ranking[2:]:
        await eventually(lambda m=loser["member_id"]: balance_is(rig.points, m, 60), what="a loser's hold released")
    events = await rig.events(runner_up, 1)
    assert [e["type"] for e in events] == ["allocation.lost"]
    assert events[0]["data"]["reason"] == "outranked" and events[0]["data"]["rank"] == 3
    won_events = await rig.events(winner, 1)
    assert won_events[0]["type"] == "allocation.won" and won_events[0]["data"]["rank"] == 2
    # Winners and losers hear it in their inbox, in their language (zh-CN by default), with the voucher.
    notify = Api(rig.info.urls["notify"], rig.info.gateway_token)
    try:
        for member, kind in [(star, "allocation_won"), (winner, "allocation_won"), (runner_up, "allocation_lost")]:
            inbox = await eventually(lambda m=member, k=kind: inbox_has(notify, m, k), what=f"{member} told: {kind}")
            assert inbox["locale"] == "zh-CN" and inbox["title"]
        told = await inbox_has(notify, winner, "allocation_won")
        assert told is not None and won_events[0]["data"]["voucher_code"] in told["body"]
    finally:
        await notify.aclose()

    # The second winner gives the place up before fulfilment: it goes to the next in line.
    redemption_id = (await application(rig, round_id, winner, "won") or {})["redemption_id"]
    cancelled = await rig.rewards.post(f"/v1/redemptions/{redemption_id}/cancel", {"reason": "moved away"})
    assert cancelled.status_code == 200, cancelled.text
    await eventually(lambda: balance_is(rig.points, winner, 60), what="the cancelled winner refunded")
    await eventually(lambda: application(rig, round_id, runner_up, "won"), what="the place passed on")
    await eventually(lambda: balance_is(rig.points, runner_up, 40), what="the runner-up paid")
    assert [e["type"] for e in await rig.events(runner_up, 2)] == ["allocation.lost", "allocation.won"]
