"""Issue 15's three holes in rewards, played as an attacker would: a lottery seed ground offline by an
operator, a `redemption_id` that confirms another member's redemption exists, and free text (a cancel
reason, a disqualification reason, a points adjustment's or a stock change's reason) that would carry a
phone number into storage and onto Kafka."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from incentives_kernel import topics

from tests.security.http_support import (
    GATEWAY_ONE,
    OPERATOR_ONE,
    SecurityStack,
    http_stack_fixture,  # noqa: F401 (provides the `http_stack` fixture)
)
from tests.support import eventually, read_topic, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

PHONE = "13812345678"


async def test_an_operator_seed_is_mixed_with_the_servers_randomness_committed_at_opening(
    http_stack: SecurityStack,
) -> None:
    ground = "an-operator-ground-this-seed-offline"
    reward = await http_stack.reward(kind="allocation", cost_points=0)
    async with http_stack.client("rewards", OPERATOR_ONE) as operator:
        opened = await operator.post(
            "/v1/allocation-rounds",
            json={
                "round_id": uid("sec-round"),
                "reward_id": reward,
                "quota": 1,
                "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "seed": ground,
            },
        )
        assert opened.status_code == 201, opened.text
        committed = opened.json()["seed_sha256"]
        # The operator's seed is not the seed: its digest is not what the round committed to.
        assert committed != hashlib.sha256(ground.encode()).hexdigest()
        assert opened.json()["server_seed"] is None  # the server's part stays hidden until the close
        closed = (await operator.post(f"/v1/allocation-rounds/{opened.json()['round_id']}/close")).json()
    # Revealed at the close; anyone recomputes the seed from what is published and checks the commitment.
    seed = hashlib.sha256(f"{closed['server_seed']}:{ground}".encode()).hexdigest()
    assert closed["operator_seed"] == ground and closed["seed"] == seed
    assert hashlib.sha256(seed.encode()).hexdigest() == committed


async def test_another_members_redemption_id_answers_as_unknown(http_stack: SecurityStack) -> None:
    alice, bob = await http_stack.member(), await http_stack.member()
    await http_stack.fund(alice, 50)
    reward = await http_stack.reward()
    taken = uid("rd")
    async with http_stack.client("rewards", http_stack.member_token(alice)) as as_alice:
        mine = await as_alice.post(
            "/v1/redemptions", json={"redemption_id": taken, "member_id": alice, "reward_id": reward}
        )
        assert mine.status_code == 202, mine.text
    for token in (http_stack.member_token(bob), GATEWAY_ONE):
        async with http_stack.client("rewards", token) as caller:
            probe = await caller.post(
                "/v1/redemptions", json={"redemption_id": taken, "member_id": bob, "reward_id": reward}
            )
            unknown = await caller.get(f"/v1/redemptions/{uid('rd')}")
        # The same answer as for an id nobody used: no 409 that would confirm it exists.
        assert probe.status_code == unknown.status_code == 404, probe.text
        assert probe.json()["error"]["code"] == "not_found"


async def test_free_text_is_masked_before_it_is_stored_or_published(http_stack: SecurityStack) -> None:
    member = await http_stack.member()
    await http_stack.fund(member, 50)
    reward = await http_stack.reward()
    redemption = uid("rd")
    async with http_stack.client("rewards", GATEWAY_ONE) as gateway:
        r = await gateway.post(
            "/v1/redemptions", json={"redemption_id": redemption, "member_id": member, "reward_id": reward}
        )
        assert r.status_code == 202, r.text

        async def confirmed() -> bool:
            return (await gateway.get(f"/v1/redemptions/{redemption}")).json()["status"] == "confirmed"

        await eventually(confirmed, what="the redemption confirmed")
        cancelled = await gateway.post(
            f"/v1/redemptions/{redemption}/cancel", json={"reason": f"call me back on {PHONE} please"}
        )
        assert cancelled.status_code == 200, cancelled.text
    conn = await asyncpg.connect(http_stack.dsn)
    try:
        stored = await conn.fetchrow(
            "SELECT cancel_reason, (SELECT string_agg(detail, ' ') FROM rewards.redemption_steps s"
            " WHERE s.redemption_id = r.redemption_id) AS steps FROM rewards.redemptions r WHERE redemption_id = $1",
            redemption,
        )
    finally:
        await conn.close()
    assert PHONE not in stored["cancel_reason"] and "138****5678" in stored["cancel_reason"]
    assert PHONE not in stored["steps"]
    published = await read_topic(http_stack.bootstrap, topics.REWARDS, lambda rec: rec.key == member.encode())
    cancel_events = [json.loads(rec.value) for rec in published if b"redemption.cancelled" in rec.value]
    assert cancel_events and all(PHONE not in json.dumps(e) for e in cancel_events)


async def test_operators_free_text_is_masked_too(http_stack: SecurityStack) -> None:
    """A points adjustment's reason is stored on the ledger line and published; a stock change's is stored."""
    member = await http_stack.member()
    reward = await http_stack.reward()
    why = f"goodwill, rider asked on {PHONE}"
    async with http_stack.client("points", OPERATOR_ONE) as points:
        body = {"adjustment_id": uid("adj"), "member_id": member, "amount": 5, "reason": why}
        r = await points.post("/v1/adjustments", json=body)
        assert r.status_code == 201, r.text
        again = await points.post("/v1/adjustments", json=body)  # the same request, masked the same way
        assert again.status_code == 201, again.text
    async with http_stack.client("rewards", OPERATOR_ONE) as rewards:
        r = await rewards.post(f"/v1/rewards/{reward}/stock", json={"delta": 1, "reason": f"from the shop, {PHONE}"})
        assert r.status_code == 200, r.text
    conn = await asyncpg.connect(http_stack.dsn)
    try:
        stored = await conn.fetchval(
            "SELECT string_agg(reason, ' ') FROM points.transfers WHERE member_id = $1", member
        )
        stock = await conn.fetchval(
            "SELECT string_agg(reason, ' ') FROM rewards.stock_changes WHERE reward_id = $1", reward
        )
    finally:
        await conn.close()
    assert stored and PHONE not in stored and "138****5678" in stored
    assert stock and PHONE not in stock and "138****5678" in stock
    published = await read_topic(http_stack.bootstrap, topics.POINTS, lambda rec: rec.key == member.encode())
    assert published and all(PHONE.encode() not in rec.value for rec in published)
    assert any(b"138****5678" in rec.value for rec in published)
