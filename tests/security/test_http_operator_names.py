"""Named operator tokens (`name:token` in INCENTIVES_OPERATOR_TOKENS) on the running processes: the
services record the person as the actor of what the token changes, and tell a token who it is.
Rewards records who created and changed a reward, moved its stock, opened and closed a round, and
registered and changed a provider, each in its own record and answered by its own GET.

The rewards, points and reports processes are restarted with one of the stack's two operator tokens named,
the other left plain (compatibility: recorded by its fingerprint, as before), then restored.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

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

NAME = "li.wei"


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


async def test_a_named_operator_is_recorded_by_name_and_a_plain_token_by_fingerprint(
    http_stack: SecurityStack,
) -> None:
    stack = http_stack.stack
    named = {"INCENTIVES_OPERATOR_TOKENS": f"{NAME}:{OPERATOR_ONE},{OPERATOR_TWO}"}
    member = await http_stack.member()
    for service in ("rewards", "points", "reports"):
        stack.stop_service(service)
        stack.start_service(service, extra_env=named)
    try:
        await stack.wait_ready(timeout=120)
        async with (
            http_stack.client("rewards", OPERATOR_ONE) as alice,
            http_stack.client("rewards", OPERATOR_TWO) as plain,
        ):
            me = (await alice.get("/v1/whoami")).json()
            assert me == {"role": "operator", "actor": f"operator:{NAME}", "name": NAME, "member_id": None, "via": None}
            other = (await plain.get("/v1/whoami")).json()
            assert other == {
                "role": "operator",
                "actor": f"operator:{fingerprint(OPERATOR_TWO)}",
                "name": None,
                "member_id": None,
                "via": None,
            }

            unnamed = f"operator:{fingerprint(OPERATOR_TWO)}"
            reward = uid("named-rw")
            body = {"reward_id": reward, "name": reward, "kind": "allocation", "cost_points": 10, "initial_stock": 5}
            assert (r := await alice.post("/v1/rewards", json=body)).status_code == 201, r.text
            r = await plain.post(f"/v1/rewards/{reward}/stock", json={"delta": 2, "reason": "delivery"})
            assert r.status_code == 200, r.text
            changes = (await alice.get(f"/v1/rewards/{reward}/stock-changes")).json()
            actors = {c["reason"]: c["actor"] for c in changes}
            assert actors == {"initial stock": f"operator:{NAME}", "delivery": f"operator:{fingerprint(OPERATOR_TWO)}"}

            async def reward_record(reward_id: str) -> dict[str, Any]:
                listed = (await alice.get("/v1/rewards")).json()
                return next(r for r in listed if r["reward_id"] == reward_id)

            created = await reward_record(reward)  # the stock moved since: the terms did not
            assert (created["created_by"], created["updated_by"]) == (f"operator:{NAME}", f"operator:{NAME}")
            assert created["updated_at"] == created["created_at"]
            r = await plain.patch(f"/v1/rewards/{reward}", json={"description": "two per person"})
            assert r.status_code == 200, r.text
            patched = await reward_record(reward)
            assert (patched["created_by"], patched["updated_by"]) == (f"operator:{NAME}", unnamed)
            assert datetime.fromisoformat(patched["updated_at"]) > datetime.fromisoformat(patched["created_at"])
            bare = uid("named-rw")  # no initial stock: no stock change names anyone, the reward does
            body = {"reward_id": bare, "name": bare, "kind": "instant", "cost_points": 5}
            assert (r := await plain.post("/v1/rewards", json=body)).status_code == 201, r.text
            assert r.json()["created_by"] == unnamed
            assert (await alice.get(f"/v1/rewards/{bare}/stock-changes")).json() == []
            assert (await reward_record(bare))["created_by"] == unnamed

            round_id = uid("named-rd")
            closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            r = await plain.post(
                "/v1/allocation-rounds",
                json={"round_id": round_id, "reward_id": reward, "quota": 1, "closes_at": closes},
            )
            assert r.status_code == 201, r.text
            assert r.json()["opened_by"] == unnamed
            r = await alice.post(f"/v1/allocation-rounds/{round_id}/close")
            assert r.status_code == 200, r.text
            assert (r.json()["opened_by"], r.json()["closed_by"]) == (unnamed, f"operator:{NAME}")
            read = (await alice.get(f"/v1/allocation-rounds/{round_id}")).json()
            assert (read["opened_by"], read["closed_by"]) == (unnamed, f"operator:{NAME}")
            listed = (await alice.get("/v1/allocation-rounds", params={"status": "closed", "limit": 200})).json()
            assert [i["opened_by"] for i in listed["items"] if i["round_id"] == round_id] == [unnamed]

            provider = uid("named-pv")
            where = {"name": "Station 7", "kind": "station", "location": {"lat": 30.1, "lon": 120.1}}
            assert (r := await alice.post("/v1/providers", json={"provider_id": provider, **where})).status_code == 201
            assert (r.json()["created_by"], r.json()["updated_by"]) == (f"operator:{NAME}", f"operator:{NAME}")
            moved = {"provider_id": provider, **where, "opening_hours": "Mo-Su 08:00-22:00"}
            assert (r := await plain.post("/v1/providers", json=moved)).status_code == 201, r.text
            read = (await alice.get(f"/v1/providers/{provider}")).json()
            assert (read["created_by"], read["updated_by"]) == (f"operator:{NAME}", unnamed)
            assert read["opening_hours"] == "Mo-Su 08:00-22:00"
            assert datetime.fromisoformat(read["updated_at"]) > datetime.fromisoformat(read["created_at"])

        async with (
            http_stack.client("points", OPERATOR_ONE) as alice,
            http_stack.client("points", OPERATOR_TWO) as plain,
        ):
            given = {"adjustment_id": uid("named-adj"), "member_id": member, "amount": 30, "reason": "found wallet"}
            r = await alice.post("/v1/adjustments", json=given)
            assert r.status_code == 201, r.text
            assert r.json()["actor"] == f"operator:{NAME}"
            taken = {"adjustment_id": uid("named-adj"), "member_id": member, "amount": -5, "reason": "typo"}
            r = await plain.post("/v1/adjustments", json=taken)
            assert r.status_code == 201, r.text
            assert r.json()["actor"] == f"operator:{fingerprint(OPERATOR_TWO)}"
            again = await plain.post("/v1/adjustments", json=given)  # the same request: who made it first
            assert again.status_code == 201 and again.json()["actor"] == f"operator:{NAME}"
            ledger = (await alice.get(f"/v1/members/{member}/ledger")).json()["items"]
            actors = {line["reason"]: line["actor"] for line in ledger if line["kind"] == "adjustment"}
            assert actors == {"found wallet": f"operator:{NAME}", "typo": f"operator:{fingerprint(OPERATOR_TWO)}"}

        async with (
            http_stack.client("reports", OPERATOR_ONE) as alice,
            http_stack.client("reports", OPERATOR_TWO) as plain,
        ):
            department = uid("named-dept")
            r = await alice.put(f"/v1/departments/{department}", json={"name": "街道办", "districts": []})
            assert r.status_code == 200 and r.json()["updated_by"] == f"operator:{NAME}", r.text
            r = await plain.put(f"/v1/departments/{department}", json={"name": "街道办事处", "districts": ["nanqu"]})
            assert r.status_code == 200 and r.json()["updated_by"] == f"operator:{fingerprint(OPERATOR_TWO)}", r.text
            listed = [d for d in (await alice.get("/v1/departments")).json() if d["department_id"] == department]
            assert [d["updated_by"] for d in listed] == [f"operator:{fingerprint(OPERATOR_TWO)}"]
            changes = (await alice.get(f"/v1/departments/{department}/changes")).json()
            assert [(c["name"], c["changed_by"]) for c in changes] == [
                ("街道办", f"operator:{NAME}"),
                ("街道办事处", f"operator:{fingerprint(OPERATOR_TWO)}"),
            ]

        async with http_stack.client("rewards", GATEWAY_ONE) as gateway:
            assert (await gateway.get("/v1/whoami")).json()["actor"] == f"gateway:{fingerprint(GATEWAY_ONE)}"
        member = http_stack.member_token("sec-named-1")
        async with http_stack.client("rewards", member) as rider:
            assert (await rider.get("/v1/whoami")).json() == {
                "role": "member",
                "actor": "member:sec-named-1",
                "name": None,
                "member_id": "sec-named-1",
                "via": None,
            }
        async with http_stack.client("rewards", "not-a-token") as nobody:
            assert (await nobody.get("/v1/whoami")).status_code == 401
    finally:
        for service in ("rewards", "points", "reports"):
            stack.stop_service(service)
            stack.start_service(service)
        await stack.wait_ready(timeout=120)
