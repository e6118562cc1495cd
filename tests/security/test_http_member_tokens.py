"""Member tokens and object-level checks on the running system.

A member token reads and acts for its member only: another member's path or body is 403, another
member's object fetched by its id is 404 (ids cannot be probed). The gateway acts for any member, but
an object fetched by id while naming a member must be that member's (404 otherwise).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from incentives_kernel import topics
from incentives_ops.demo import report_submitted

from tests.security.http_support import (
    GATEWAY_ONE,
    MEMBER_KEYS,
    OPERATOR_ONE,
    SecurityStack,
    http_stack_fixture,  # noqa: F401 (provides the `http_stack` fixture)
)
from tests.support import eventually, publish, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_the_gateway_mints_a_member_token_that_reads_only_that_member(http_stack: SecurityStack) -> None:
    alice, bob = await http_stack.member(), await http_stack.member()
    async with http_stack.client("points", GATEWAY_ONE) as gateway:
        minted = await gateway.post("/v1/member-tokens", json={"member_id": alice, "ttl_s": 300})
        assert minted.status_code == 201, minted.text
        body = minted.json()
        assert body["member_id"] == alice and body["token_type"] == "Bearer"
        refused = await gateway.post("/v1/member-tokens", json={"member_id": "not valid!"})
        assert refused.status_code == 422
    token = body["token"]
    async with http_stack.client("points", token) as points:
        own = await points.get(f"/v1/members/{alice}/balance")
        assert own.status_code == 200 and own.json()["member_id"] == alice
        assert (await points.get(f"/v1/members/{alice}/ledger")).status_code == 200
        other = await points.get(f"/v1/members/{bob}/balance")
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
        # a member token cannot mint itself (or anyone) another
        again = await points.post("/v1/member-tokens", json={"member_id": alice})
        assert again.status_code == 403
        adjust = await points.post(
            "/v1/adjustments", json={"adjustment_id": uid("a"), "member_id": alice, "amount": 100, "reason": "me"}
        )
        assert adjust.status_code == 403
    # Attack: another spelling of the same token (stray characters, padding) used to verify: now 401.
    for spelling in (token + "!!", token + "=", token + "==", token.replace(".", "=.", 1)):
        async with http_stack.client("points", spelling) as points:
            refused = await points.get(f"/v1/members/{alice}/balance")
            assert refused.status_code == 401, spelling
    # the keys are shared: a token minted by points is good at every service
    async with http_stack.client("notify", token) as notify:
        assert (await notify.get(f"/v1/members/{alice}/notifications")).status_code == 200
        assert (await notify.get(f"/v1/members/{bob}/notifications")).status_code == 403
        put = await notify.put(f"/v1/members/{bob}/preferences", json={"muted_kinds": []})
        assert put.status_code == 403


async def test_redemptions_belong_to_their_member(http_stack: SecurityStack) -> None:
    alice, bob = await http_stack.member(), await http_stack.member()
    await http_stack.fund(alice, 100)
    reward = await http_stack.reward()
    as_alice, as_bob = http_stack.member_token(alice), http_stack.member_token(bob)
    async with http_stack.client("rewards", as_alice) as rewards_alice:
        for_bob = await rewards_alice.post(
            "/v1/redemptions", json={"redemption_id": uid("rd"), "member_id": bob, "reward_id": reward}
        )
        assert for_bob.status_code == 403
        mine = await rewards_alice.post(
            "/v1/redemptions", json={"redemption_id": uid("rd"), "member_id": alice, "reward_id": reward}
        )
        assert mine.status_code == 202, mine.text
        redemption = mine.json()["redemption_id"]
        assert (await rewards_alice.get(f"/v1/redemptions/{redemption}")).status_code == 200
        listed = (await rewards_alice.get(f"/v1/members/{alice}/redemptions")).json()
        assert [r["redemption_id"] for r in listed["items"]] == [redemption]

    async with http_stack.client("rewards", as_bob) as rewards_bob:
        seen = await rewards_bob.get(f"/v1/redemptions/{redemption}")
        unknown = await rewards_bob.get("/v1/redemptions/no-such-redemption")
        # Bob cannot tell Alice's redemption from one that does not exist
        assert seen.status_code == unknown.status_code == 404
        assert seen.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
        cancel = await rewards_bob.post(f"/v1/redemptions/{redemption}/cancel", json={})
        assert cancel.status_code == 404
        assert (await rewards_bob.get(f"/v1/members/{alice}/redemptions")).status_code == 403

    async with http_stack.client("rewards", GATEWAY_ONE) as gateway:
        assert (await gateway.get(f"/v1/redemptions/{redemption}", params={"member_id": alice})).status_code == 200
        assert (await gateway.get(f"/v1/redemptions/{redemption}", params={"member_id": bob})).status_code == 404
        assert (await gateway.get(f"/v1/redemptions/{redemption}")).status_code == 200  # acting for no one named
        wrong = await gateway.post(f"/v1/redemptions/{redemption}/cancel", json={"member_id": bob})
        assert wrong.status_code == 404
    async with http_stack.client("rewards", OPERATOR_ONE) as operator:
        state = (await operator.get(f"/v1/redemptions/{redemption}")).json()["status"]
        assert state in ("pending", "confirmed")  # none of the refused cancels touched it

    async with http_stack.client("rewards", as_alice) as rewards_alice:

        async def settled() -> bool:
            r = await rewards_alice.get(f"/v1/redemptions/{redemption}")
            return r.json()["status"] != "pending"

        await eventually(settled, what="the redemption decided")
        cancelled = await rewards_alice.post(f"/v1/redemptions/{redemption}/cancel", json={"reason": "changed mind"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["cancelled_by"] == "member"


async def test_reports_belong_to_their_member(http_stack: SecurityStack) -> None:
    alice, bob = await http_stack.member(), await http_stack.member()
    report = uid("rp")
    await publish(http_stack.bootstrap, topics.REPORTS, report, report_submitted(report, alice, "nanqu", "sanitation"))
    async with http_stack.client("reports", http_stack.member_token(alice)) as as_alice:

        async def visible() -> bool:
            return (await as_alice.get(f"/v1/reports/{report}")).status_code == 200

        await eventually(visible, what="alice sees her report")
        assert (await as_alice.get(f"/v1/members/{alice}/reports")).json()["items"][0]["report_id"] == report
        assert (await as_alice.get("/v1/reports")).status_code == 403  # the operator's list
    async with http_stack.client("reports", http_stack.member_token(bob)) as as_bob:
        assert (await as_bob.get(f"/v1/reports/{report}")).status_code == 404
        assert (await as_bob.get(f"/v1/members/{alice}/reports")).status_code == 403
    async with http_stack.client("reports", GATEWAY_ONE) as gateway:
        assert (await gateway.get(f"/v1/reports/{report}", params={"member_id": alice})).status_code == 200
        assert (await gateway.get(f"/v1/reports/{report}", params={"member_id": bob})).status_code == 404


async def test_allocation_applications_only_for_oneself(http_stack: SecurityStack) -> None:
    alice, bob = await http_stack.member(), await http_stack.member()
    as_alice = http_stack.member_token(alice)
    async with http_stack.client("rewards", as_alice) as rewards:
        r = await rewards.post("/v1/allocation-rounds/any-round/applications", json={"member_id": bob})
        assert r.status_code == 403
        r = await rewards.post("/v1/allocation-rounds", json={})
        assert r.status_code == 403


async def test_an_operator_mints_a_member_token_from_the_command_line(http_stack: SecurityStack) -> None:
    alice = await http_stack.member()
    command = [sys.executable, "-m", "incentives_ops.cli", "member-token", alice, "--ttl", "120", "--keys", MEMBER_KEYS]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    async with http_stack.client("rewards", token) as rewards:
        assert (await rewards.get(f"/v1/members/{alice}/redemptions")).status_code == 200
        assert (await rewards.get("/v1/members/someone-else/redemptions")).status_code == 403
    weak = [*command[:-1], "k:short"]
    refused = await asyncio.to_thread(subprocess.run, weak, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "shorter than 32" in refused.stderr
