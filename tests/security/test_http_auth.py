"""Authentication and roles on every /v1 route of every service, on the running processes.

The routes come from each service's own OpenAPI document, and each must be in ACCESS below: a
route added without deciding who may call it fails the first test, so it cannot escape the others.
For every route: no token or a bad one is 401 with `WWW-Authenticate: Bearer`; a valid token whose
role is not allowed is 403; a member token naming another member in the path is 403; and the roles
that are allowed get past authorisation (whatever the route then answers to an empty request).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from incentives_kernel.member_tokens import MemberTokenKeys

from tests.security.http_support import (
    GATEWAY_ONE,
    GATEWAY_TWO,
    MEMBER_KEYS,
    OPERATOR_ONE,
    OPERATOR_TWO,
    SecurityStack,
    http_stack_fixture,  # noqa: F401 (provides the `http_stack` fixture)
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

OPERATOR, GATEWAY, MEMBER = "operator", "gateway", "member"  # who may call: operator < gateway < member

ACCESS: dict[tuple[str, str, str], str] = {
    ("points", "GET", "/v1/members/{member_id}/balance"): MEMBER,
    ("points", "GET", "/v1/members/{member_id}/ledger"): MEMBER,
    ("points", "GET", "/v1/leaderboard"): MEMBER,
    ("points", "POST", "/v1/adjustments"): OPERATOR,
    ("points", "POST", "/v1/members/lookup"): OPERATOR,
    ("rewards", "GET", "/v1/rewards"): MEMBER,
    ("rewards", "POST", "/v1/rewards"): OPERATOR,
    ("rewards", "PATCH", "/v1/rewards/{reward_id}"): OPERATOR,
    ("rewards", "POST", "/v1/rewards/{reward_id}/stock"): OPERATOR,
    ("rewards", "GET", "/v1/rewards/{reward_id}/stock-changes"): OPERATOR,
    ("rewards", "POST", "/v1/redemptions"): MEMBER,
    ("rewards", "GET", "/v1/redemptions/{redemption_id}"): MEMBER,
    ("rewards", "GET", "/v1/members/{member_id}/redemptions"): MEMBER,
    ("rewards", "POST", "/v1/redemptions/{redemption_id}/cancel"): MEMBER,
    ("rewards", "POST", "/v1/redemptions/{redemption_id}/fulfil"): OPERATOR,
    ("rewards", "POST", "/v1/allocation-rounds"): OPERATOR,
    ("rewards", "POST", "/v1/allocation-rounds/{round_id}/applications"): MEMBER,
    ("rewards", "POST", "/v1/allocation-rounds/{round_id}/close"): OPERATOR,
    ("rewards", "GET", "/v1/allocation-rounds/{round_id}"): MEMBER,
    # Version 2: the rounds list (console), the public notice (gateway, not member tokens), disqualifications.
    ("rewards", "GET", "/v1/allocation-rounds"): OPERATOR,
    ("rewards", "GET", "/v1/allocation-rounds/{round_id}/notice"): GATEWAY,
    ("rewards", "POST", "/v1/allocation-rounds/{round_id}/disqualifications"): OPERATOR,
    # The voucher routes belong to the provider role: of the roles tried here only the operator passes.
    ("rewards", "GET", "/v1/vouchers/{code}"): OPERATOR,
    ("rewards", "POST", "/v1/vouchers/{code}/redeem"): OPERATOR,
    ("rewards", "POST", "/v1/providers"): OPERATOR,
    ("rewards", "GET", "/v1/providers"): MEMBER,
    ("rewards", "GET", "/v1/providers/{provider_id}"): MEMBER,
    ("reports", "GET", "/v1/reports/{report_id}"): MEMBER,
    ("reports", "GET", "/v1/members/{member_id}/reports"): MEMBER,
    ("reports", "GET", "/v1/reports"): OPERATOR,
    ("reports", "GET", "/v1/needs/{need_id}"): MEMBER,
    ("reports", "GET", "/v1/members/{member_id}/needs"): MEMBER,
    ("reports", "GET", "/v1/needs"): OPERATOR,
    ("reports", "GET", "/v1/departments"): OPERATOR,
    ("reports", "PUT", "/v1/departments/{department_id}"): OPERATOR,
    ("reports", "GET", "/v1/departments/{department_id}/changes"): OPERATOR,
    ("reports", "GET", "/v1/departments/{department_id}/kpis"): OPERATOR,
    ("reports", "GET", "/v1/kpis/departments"): OPERATOR,
    ("reports", "GET", "/v1/areas"): GATEWAY,
    ("notify", "GET", "/v1/members/{member_id}/notifications"): MEMBER,
    ("notify", "POST", "/v1/members/{member_id}/notifications/{notification_id}/read"): MEMBER,
    ("notify", "GET", "/v1/members/{member_id}/preferences"): MEMBER,
    ("notify", "PUT", "/v1/members/{member_id}/preferences"): MEMBER,
    ("notify", "POST", "/v1/webhooks"): OPERATOR,
    ("notify", "GET", "/v1/webhooks"): OPERATOR,
    ("notify", "GET", "/v1/webhooks/{webhook_id}"): OPERATOR,
    ("notify", "DELETE", "/v1/webhooks/{webhook_id}"): OPERATOR,
    ("notify", "GET", "/v1/webhooks/{webhook_id}/dead-letters"): OPERATOR,
    ("notify", "POST", "/v1/webhooks/{webhook_id}/dead-letters/redrive"): OPERATOR,
    ("notify", "POST", "/v1/webhooks/{webhook_id}/dead-letters/{delivery_id}/redrive"): OPERATOR,
    ("points", "GET", "/v1/member-lookups"): OPERATOR,
    **{(svc, "POST", "/v1/member-tokens"): GATEWAY for svc in ("points", "rewards", "reports", "notify")},
    # The kernel's operator APIs (operator_api.py), in every service.
    **{
        (svc, method, path): OPERATOR
        for svc in ("points", "rewards", "reports", "notify")
        for method, path in (
            ("GET", "/v1/dead-letters"),
            ("POST", "/v1/dead-letters/{dead_letter_id}/replay"),
            ("POST", "/v1/dead-letters/replay"),
            ("GET", "/v1/parked-events"),
            ("POST", "/v1/parked-events/release"),
            ("POST", "/v1/parked-events/dead-letter"),
            ("GET", "/v1/operator-actions"),
        )
    },
    **{(svc, "GET", "/v1/whoami"): MEMBER for svc in ("points", "rewards", "reports", "notify")},
}
ROUTES = sorted(ACCESS)
SELF, OTHER = "sec-self-1", "sec-other-2"


def concrete(path: str, member: str = SELF) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: member if m.group(1) == "member_id" else "x-1", path)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def bad_credentials() -> dict[str, dict[str, str]]:
    """Authorization headers that must all be refused with 401."""
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = MemberTokenKeys.parse(MEMBER_KEYS).mint(SELF, 600, past).token
    foreign = MemberTokenKeys.parse("kx:" + "z" * 40).mint(SELF, 600).token
    head = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "k2"}).encode())
    now = int(datetime.now(UTC).timestamp())
    body = b64(json.dumps({"sub": SELF, "aud": "incentives-member", "iat": now, "exp": now + 600}).encode())
    return {
        "none": {},
        "bearer without a token": {"Authorization": "Bearer"},
        "unknown token": {"Authorization": "Bearer not-a-token"},
        "basic scheme": {"Authorization": f"Basic {OPERATOR_ONE}"},
        "digest as token": {"Authorization": "Bearer " + hashlib.sha256(GATEWAY_TWO.encode()).hexdigest()},
        "expired member token": {"Authorization": f"Bearer {expired}"},
        "member token of unknown key": {"Authorization": f"Bearer {foreign}"},
        "alg none": {"Authorization": f"Bearer {head}.{body}."},
    }


async def call(stack: SecurityStack, route: tuple[str, str, str], headers: dict[str, str], member: str = SELF):
    service, method, path = route
    async with httpx.AsyncClient(base_url=stack.urls[service], timeout=30) as http:
        return await http.request(method, concrete(path, member), headers=headers)


async def test_every_v1_route_has_a_decided_access(http_stack: SecurityStack) -> None:
    found = set()
    for service in ("points", "rewards", "reports", "notify"):
        async with httpx.AsyncClient(base_url=http_stack.urls[service]) as http:
            spec = (await http.get("/openapi.json")).json()
        for path, operations in spec["paths"].items():
            for method, op in operations.items():
                if path.startswith("/v1"):
                    found.add((service, method.upper(), path))
                    # and the document says so: a bearer token and the 401/403 answers
                    assert op.get("security") == [{"HTTPBearer": []}], (service, method, path)
                    assert {"401", "403"} <= set(op["responses"]), (service, method, path)
    assert found == set(ACCESS), f"undecided: {found - set(ACCESS)}; gone: {set(ACCESS) - found}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
async def test_no_or_bad_token_is_401_everywhere(http_stack: SecurityStack, route: tuple[str, str, str]) -> None:
    for name, headers in bad_credentials().items():
        r = await call(http_stack, route, headers)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.headers.get("www-authenticate") == "Bearer", name
        assert r.json()["error"]["code"] == "unauthenticated", name


async def test_refused_tokens_are_counted_by_reason(http_stack: SecurityStack) -> None:
    def counted(metrics: str, reason: str) -> float:
        line = f'incentives_points_http_unauthenticated_total{{reason="{reason}"}} '
        return next((float(x.removeprefix(line)) for x in metrics.splitlines() if x.startswith(line)), 0.0)

    async with http_stack.client("points") as http:
        before = (await http.get("/metrics")).text
        await http.get("/v1/leaderboard")
        await http.get("/v1/leaderboard", headers={"Authorization": "Bearer guess-1"})
        await http.get("/v1/leaderboard", headers={"Authorization": "Bearer guess-2"})
        after = (await http.get("/metrics")).text
    assert counted(after, "missing") - counted(before, "missing") == 1
    assert counted(after, "invalid") - counted(before, "invalid") == 2


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
async def test_roles_403_where_not_allowed_and_through_where_allowed(
    http_stack: SecurityStack, route: tuple[str, str, str]
) -> None:
    access = ACCESS[route]
    member = {"Authorization": f"Bearer {http_stack.member_token(SELF)}"}
    for name, headers, allowed in [
        ("operator", {"Authorization": f"Bearer {OPERATOR_ONE}"}, True),
        ("gateway", {"Authorization": f"Bearer {GATEWAY_ONE}"}, access in (GATEWAY, MEMBER)),
        ("member", member, access == MEMBER),
    ]:
        r = await call(http_stack, route, headers)
        if allowed:
            assert r.status_code not in (401, 403), (name, r.status_code, r.text)
        else:
            assert r.status_code == 403, (name, r.status_code, r.text)
            assert r.json()["error"]["code"] == "forbidden"
        assert r.status_code < 500, (name, r.status_code, r.text)
    if access == MEMBER and "{member_id}" in route[2]:
        r = await call(http_stack, route, member, member=OTHER)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == {"code": "forbidden", "message": "this token acts for another member"}


async def test_rotation_both_tokens_of_a_role_work_and_removing_one_revokes_it(http_stack: SecurityStack) -> None:
    old_key = MemberTokenKeys.parse("k1:" + "r" * 40).mint(SELF, 600).token  # the older member key
    before = {
        token: (await call(http_stack, ("points", "GET", "/v1/leaderboard"), {"Authorization": f"Bearer {token}"}))
        for token in (OPERATOR_ONE, OPERATOR_TWO, GATEWAY_ONE, GATEWAY_TWO, old_key)
    }
    assert {t: r.status_code for t, r in before.items()} == dict.fromkeys(before, 200)

    stack = http_stack.stack
    gateway_two_digest = "sha256:" + hashlib.sha256(GATEWAY_TWO.encode()).hexdigest()
    rotated = {
        "INCENTIVES_OPERATOR_TOKENS": OPERATOR_TWO,
        "INCENTIVES_GATEWAY_TOKENS": gateway_two_digest,
        "INCENTIVES_MEMBER_TOKEN_KEYS": MEMBER_KEYS.split(",")[0],
    }
    stack.stop_service("points")
    stack.start_service("points", extra_env=rotated)
    try:
        await stack.wait_ready(timeout=120)
        after = {
            token: (
                await call(http_stack, ("points", "GET", "/v1/leaderboard"), {"Authorization": f"Bearer {token}"})
            ).status_code
            for token in before
        }
        assert after == {OPERATOR_ONE: 401, OPERATOR_TWO: 200, GATEWAY_ONE: 401, GATEWAY_TWO: 200, old_key: 401}
        fresh = http_stack.member_token(SELF)  # signed with k2, still configured
        r = await call(http_stack, ("points", "GET", "/v1/leaderboard"), {"Authorization": f"Bearer {fresh}"})
        assert r.status_code == 200
    finally:
        stack.stop_service("points")
        stack.start_service("points")
        await stack.wait_ready(timeout=120)
    r = await call(http_stack, ("points", "GET", "/v1/leaderboard"), {"Authorization": f"Bearer {OPERATOR_ONE}"})
    assert r.status_code == 200
