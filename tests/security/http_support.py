"""A stack of its own for the HTTP security tests: its own embedded PostgreSQL and Tansu, and a
configuration the shared e2e stack does not have: two tokens per role (one pre-hashed), member-token
keys, and rate limits low enough (3 per hour per caller and member) that a 429 needs no timing.

Own infrastructure, not the session's: this stack's consumers must not join the consumer groups of
the shared e2e stack on the same topics (each would see half the events).

The fixture `http_stack` (import `http_stack_fixture`) is defined here rather than in a conftest;
every module that imports it gets its own fixture definition, so the stack is started once and
cached, and the definition that started it stops it at the end of the session.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from incentives_kernel import topics
from incentives_kernel.member_tokens import MemberTokenKeys
from incentives_ops.demo import member_registered
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.support import eventually, isolated_stack, publish, uid

SERVICES = ("reports", "points", "rewards", "notify")
OPERATOR_ONE, OPERATOR_TWO = "sec-operator-one-" + "a" * 12, "sec-operator-two-" + "b" * 12
GATEWAY_ONE, GATEWAY_TWO = "sec-gateway-one-" + "c" * 12, "sec-gateway-two-" + "d" * 12
MEMBER_KEYS = "k2:" + "s" * 40 + ",k1:" + "r" * 40  # k2 signs, k1 still verifies
RATE = "1/h:3"
OPERATOR_TOKENS = f"{OPERATOR_ONE},{OPERATOR_TWO}"
# The second gateway token is configured only as its digest, as production should.
GATEWAY_TOKENS = f"{GATEWAY_ONE},sha256:{hashlib.sha256(GATEWAY_TWO.encode()).hexdigest()}"


@dataclass
class SecurityStack:
    stack: Stack
    urls: dict[str, str]
    bootstrap: str
    dsn: str
    keys: MemberTokenKeys

    def client(self, service: str, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.urls[service], headers=headers, timeout=30)

    def member_token(self, member_id: str) -> str:
        return self.keys.mint(member_id, 600).token

    async def member(self) -> str:
        """A member registered and known to every service."""
        member = uid("sec")
        await publish(self.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
        conn = await asyncpg.connect(self.dsn)
        try:

            async def known() -> bool:
                for schema in SERVICES:
                    n = await conn.fetchval(f"SELECT count(*) FROM {schema}.members WHERE member_id = $1", member)
                    if not n:
                        return False
                return True

            await eventually(known, timeout=60, what=f"every service knows {member}")
        finally:
            await conn.close()
        return member

    async def fund(self, member: str, amount: int) -> None:
        async with self.client("points", OPERATOR_TWO) as http:
            body = {"adjustment_id": uid("fund"), "member_id": member, "amount": amount, "reason": "test funds"}
            r = await http.post("/v1/adjustments", json=body)
            assert r.status_code == 201, r.text

    async def reward(self, **fields: Any) -> str:
        reward_id = uid("sec-rw")
        async with self.client("rewards", OPERATOR_ONE) as http:
            body = {"reward_id": reward_id, "name": reward_id, "kind": "instant", "cost_points": 10, **fields}
            r = await http.post("/v1/rewards", json={"initial_stock": 100, **body})
            assert r.status_code == 201, r.text
        return reward_id


_cache: dict[str, SecurityStack] = {}


@pytest_asyncio.fixture(scope="session", loop_scope="session", name="http_stack")
async def http_stack_fixture() -> AsyncIterator[SecurityStack]:
    if "stack" in _cache:
        yield _cache["stack"]
        return
    rates = {f"INCENTIVES_RATE_LIMIT_{g}": RATE for g in ("REDEMPTIONS", "ADJUSTMENTS", "APPLICATIONS", "LOOKUPS")}
    env = {
        "INCENTIVES_OPERATOR_TOKENS": OPERATOR_TOKENS,
        "INCENTIVES_GATEWAY_TOKENS": GATEWAY_TOKENS,
        "INCENTIVES_MEMBER_TOKEN_KEYS": MEMBER_KEYS,
        **rates,
    }
    try:
        async with isolated_stack("incentives-http-", env, database="incentives_security") as stack:
            assert stack.info is not None
            _cache["stack"] = SecurityStack(
                stack=stack,
                urls=stack.info.urls,
                bootstrap=stack.info.bootstrap,
                dsn=_with(stack.info.admin_dsn, database=stack.opt.database),
                keys=MemberTokenKeys.parse(MEMBER_KEYS),
            )
            yield _cache["stack"]
    finally:
        _cache.pop("stack", None)
