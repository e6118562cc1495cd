"""Request size, pagination and rate limits on the running services.

The security stack runs with a rate of 3 per hour per caller and member (tests/security/http_support.py),
so a 429 comes from counting, not from timing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.security.http_support import (
    GATEWAY_ONE,
    OPERATOR_ONE,
    OPERATOR_TWO,
    SecurityStack,
    http_stack_fixture,  # noqa: F401 (provides the `http_stack` fixture)
)
from tests.support import uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

LIMIT = 64 * 1024
PAGED = [
    ("points", "/v1/members/m-1/ledger"),
    ("rewards", "/v1/members/m-1/redemptions"),
    ("reports", "/v1/members/m-1/reports"),
    ("reports", "/v1/reports"),
    ("notify", "/v1/members/m-1/notifications"),
    ("notify", "/v1/webhooks/wh-1/dead-letters"),
]
LIMITED = [*PAGED, ("points", "/v1/leaderboard"), ("rewards", "/v1/rewards/rw-1/stock-changes")]


def adjustment(member: str, reason: str = "r") -> dict[str, object]:
    return {"adjustment_id": uid("adj"), "member_id": member, "amount": 1, "reason": reason}


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(http_stack: SecurityStack) -> None:
    async with http_stack.client("points", OPERATOR_ONE) as points:
        declared = await points.post("/v1/adjustments", json=adjustment("m-1", "x" * LIMIT))
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "payload_too_large"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the guard counts what arrives
            yield b'{"adjustment_id": "a-1", "member_id": "m-1", "amount": 1, "reason": "'
            for _ in range(LIMIT // 4096 + 1):
                yield b"x" * 4096
            yield b'"}'

        streamed = await points.post("/v1/adjustments", content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"
        # just under the limit is accepted as far as size goes (then refused for what it says: too long a reason)
        fits = await points.post("/v1/adjustments", json=adjustment("m-1", "x" * (LIMIT - 200)))
        assert fits.status_code == 422
    async with http_stack.client("points") as anonymous:
        r = await anonymous.post("/v1/adjustments", json=adjustment("m-1", "x" * LIMIT))
        assert r.status_code == 401  # who you are is asked first


@pytest.mark.parametrize(("service", "path"), LIMITED)
async def test_a_page_larger_than_the_maximum_is_422(http_stack: SecurityStack, service: str, path: str) -> None:
    async with http_stack.client(service, OPERATOR_ONE) as http:
        assert (await http.get(path, params={"limit": 200})).status_code in (200, 404)
        r = await http.get(path, params={"limit": 201})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "validation_error"
        assert r.json()["error"]["details"][0]["loc"] == ["query", "limit"]


def tampered() -> list[str]:
    def b64(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return ["%%%", "not-base64!", b64({"seq": 1}), b64([1, 2, 3]), b64(["2026-13-45", 1]), b64([True]), "A" * 600]


@pytest.mark.parametrize(("service", "path"), PAGED)
async def test_a_cursor_this_api_did_not_issue_is_400(http_stack: SecurityStack, service: str, path: str) -> None:
    async with http_stack.client(service, OPERATOR_ONE) as http:
        for cursor in tampered():
            r = await http.get(path, params={"cursor": cursor})
            assert r.status_code == 400, (cursor, r.text)
            assert r.json()["error"]["code"] == "invalid_cursor"


async def test_redemptions_are_rate_limited_per_member_whatever_token_they_hold(http_stack: SecurityStack) -> None:
    alice, bob = await http_stack.member(), await http_stack.member()
    for m in (alice, bob):
        await http_stack.fund(m, 200)
    reward = await http_stack.reward()

    def redemption(member: str) -> dict[str, str]:
        return {"redemption_id": uid("rl"), "member_id": member, "reward_id": reward}

    async with http_stack.client("rewards", http_stack.member_token(alice)) as as_alice:
        for _ in range(3):
            assert (await as_alice.post("/v1/redemptions", json=redemption(alice))).status_code == 202
        refused_body = redemption(alice)
        refused = await as_alice.post("/v1/redemptions", json=refused_body)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    async with http_stack.client("rewards", OPERATOR_ONE) as operator:
        # refused before anything was recorded
        assert (await operator.get(f"/v1/redemptions/{refused_body['redemption_id']}")).status_code == 404
    async with http_stack.client("rewards", http_stack.member_token(alice)) as fresh_token:
        assert (await fresh_token.post("/v1/redemptions", json=redemption(alice))).status_code == 429
    async with http_stack.client("rewards", http_stack.member_token(bob)) as as_bob:
        assert (await as_bob.post("/v1/redemptions", json=redemption(bob))).status_code == 202
    async with http_stack.client("rewards", GATEWAY_ONE) as gateway:
        # the gateway's own budget for alice is untouched by her app's calls
        assert (await gateway.post("/v1/redemptions", json=redemption(alice))).status_code == 202
        metrics = (await gateway.get("/metrics")).text
    assert 'incentives_rewards_http_rate_limited_total{role="member",route="redemptions"}' in metrics


async def test_adjustments_and_applications_are_rate_limited(http_stack: SecurityStack) -> None:
    carol = await http_stack.member()
    async with http_stack.client("points", OPERATOR_ONE) as points:
        answers = [(await points.post("/v1/adjustments", json=adjustment(carol))).status_code for _ in range(4)]
    assert answers == [201, 201, 201, 429]
    async with http_stack.client("rewards", http_stack.member_token(carol)) as rewards:
        path = f"/v1/allocation-rounds/{uid('no-round')}/applications"
        answers = [(await rewards.post(path, json={"member_id": carol})).status_code for _ in range(4)]
    assert answers == [404, 404, 404, 429]  # the budget is spent before the round is looked up


async def test_member_lookups_are_throttled_per_caller_and_audited(http_stack: SecurityStack) -> None:
    """Issue 15: a stolen operator token cannot walk the phone-number space through the lookup; every
    lookup is recorded (who, when, whom it found), never the number."""
    phone = "1391234" + f"{uuid.uuid4().int % 10**4:04d}"
    async with http_stack.client("points", OPERATOR_TWO) as points:
        answers = [(await points.post("/v1/members/lookup", json={"phone": phone})).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429], answers
        audit = (await points.get("/v1/member-lookups", params={"limit": 200})).json()["items"]
    mine = [a for a in audit if a["actor"] == "operator:" + hashlib.sha256(OPERATOR_TWO.encode()).hexdigest()[:12]]
    assert len(mine) >= 3 and all(a["kind"] == "phone" and a["member_ids"] == [] for a in mine[:3])
    assert phone not in json.dumps(audit)
    async with http_stack.client("points", OPERATOR_ONE) as other:  # another caller has its own budget
        assert (await other.post("/v1/members/lookup", json={"phone": phone})).status_code == 200
