"""The operator APIs every service has (kernel operator_api.py), on the running system: dead letters
listed with personal data masked and replayed, parked events listed, released and dead-lettered, each
action recorded with who and when; and the member lookup's throttle and audit (points)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from incentives_kernel import topics
from incentives_kernel.envelope import encode_event
from incentives_ops.demo import member_registered, report_rated, report_submitted, status_changed
from incentives_ops.stack import Stack

from tests.conftest import PARK_GRACE_S
from tests.support import Api, eventually, publish, status_is, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

# Unique per run: other tests register members with phones of the same shape.
PHONE = "139" + f"{uuid.uuid4().int % 10**8:08d}"


def operator(stack: Stack, name: str) -> Api:
    assert stack.info is not None
    return Api(stack.info.urls[name], stack.info.operator_token)


def fingerprint(token: str) -> str:
    return "operator:" + hashlib.sha256(token.encode()).hexdigest()[:12]


async def dead_letter_of(api: Api, event_id: str, **filters: Any) -> dict[str, Any] | None:
    r = await api.get("/v1/dead-letters", limit=200, **filters)
    assert r.status_code == 200, r.text
    return next((d for d in r.json()["items"] if d["event"] and d["event"]["id"] == event_id), None)


async def test_a_dead_letter_is_listed_masked_and_replayed_once_fixed(stack: Stack) -> None:
    assert stack.info is not None
    reports, points = operator(stack, "reports"), operator(stack, "points")
    member, report = uid("m"), uid("r")
    try:
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
        await publish(stack.info.bootstrap, topics.REPORTS, report, report_submitted(report, member, "nanqu", "other"))
        await eventually(lambda: status_is(reports, report, "submitted"), what="the report")
        # A rating before the report is resolved: dead-lettered (not_resolved), a phone in its comment.
        rating = report_rated(report, member, "nanqu", 5)
        rating["data"]["comment"] = f"call me {PHONE}"
        other = report_rated(report, member, "nanqu", 4)  # a second one, left dead (for the pages below)
        await publish(stack.info.bootstrap, topics.REPORTS, report, encode_event(rating), encode_event(other))
        await eventually(lambda: dead_letter_of(reports, other["id"]), what="both dead letters listed")
        dead = await dead_letter_of(reports, rating["id"], topic=topics.REPORTS, reason="not_resolved")
        assert dead is not None
        assert dead["service"] == "reports" and dead["dlq_topic"] == topics.REPORTS + ".dlq"
        assert dead["event"]["type"] == "report.rated" and dead["replay_count"] == 0
        assert PHONE not in str(dead) and f"{PHONE[:3]}****{PHONE[-4:]}" in dead["record"]["data"]["comment"]

        # Replayed before the cause is fixed: refused again, the same dead letter (one row, one replay more).
        early = await reports.post(f"/v1/dead-letters/{dead['dead_letter_id']}/replay")
        assert early.json()["replayed"][0] | {"dead_letter_id": 0} == {
            "dead_letter_id": 0,
            "outcome": "dead_lettered",
            "reason": "not_resolved",
        }, early.text
        same = (await reports.get("/v1/dead-letters", limit=200, reason="not_resolved")).json()["items"]
        assert [d["dead_letter_id"] for d in same if d["event"]["id"] == rating["id"]] == [dead["dead_letter_id"]]

        # Fixed: the report resolved. The replay applies it in reports, and points credits the rating.
        for status in ("accepted", "resolved"):
            await publish(stack.info.bootstrap, topics.REPORTS, report, status_changed(report, "nanqu", status, "城管"))
        await eventually(lambda: status_is(reports, report, "resolved"), what="the report resolved")
        r = await reports.post(f"/v1/dead-letters/{dead['dead_letter_id']}/replay")
        assert r.status_code == 200, r.text
        assert r.json()["replayed"] == [
            {"dead_letter_id": dead["dead_letter_id"], "outcome": "applied", "reason": None}
        ]

        async def rated() -> bool:
            body = await points.json_or_none(f"/v1/members/{member}/ledger")
            return bool(body) and "rating" in {line["kind"] for line in body["items"]}

        await eventually(rated, what="the rating point after the replay")

        # Once applied, a second replay (of the filtered set, including replayed ones) does nothing.
        again = await reports.post(
            "/v1/dead-letters/replay",
            json={"topic": topics.REPORTS, "dead_letter_ids": [dead["dead_letter_id"]], "include_replayed": True},
        )
        assert again.status_code == 200, again.text
        assert [x["outcome"] for x in again.json()["replayed"]] == ["duplicate"]
        none_left = await reports.post(
            "/v1/dead-letters/replay", json={"topic": topics.REPORTS, "dead_letter_ids": [dead["dead_letter_id"]]}
        )
        assert none_left.json()["replayed"] == [], "not replayed again unless asked"

        shown = await dead_letter_of(reports, rating["id"], replayed="true")
        assert shown is not None and shown["replay_count"] == 3
        assert shown["replayed_by"] == fingerprint(stack.info.operator_token) and shown["replayed_at"]
        actions = (await reports.get("/v1/operator-actions", limit=200)).json()["items"]
        mine = [a for a in actions if a["target"] == f"dead_letter:{dead['dead_letter_id']}"]
        assert [a["detail"] for a in mine] == ["duplicate", "applied", "dead_lettered (not_resolved)"]  # newest first
        assert {a["actor"] for a in mine} == {fingerprint(stack.info.operator_token)}

        # Paginated: one at a time, the cursor leads on, each item once.
        first = (await reports.get("/v1/dead-letters", limit=1)).json()
        second = (await reports.get("/v1/dead-letters", limit=1, cursor=first["next_cursor"])).json()
        assert first["next_cursor"] and first["items"][0]["dead_letter_id"] > second["items"][0]["dead_letter_id"]
        assert (await reports.get("/v1/dead-letters", cursor="not-a-cursor")).status_code == 400
        assert (await reports.post("/v1/dead-letters/99999999/replay")).status_code == 404
    finally:
        await reports.aclose()
        await points.aclose()


async def parked_of(api: Api, awaiting: str) -> list[dict[str, Any]] | None:
    r = await api.get("/v1/parked-events", awaiting=awaiting)
    assert r.status_code == 200, r.text
    return r.json()["items"] or None


async def test_a_parked_event_is_listed_released_and_dead_lettered_then_replayed(stack: Stack) -> None:
    assert stack.info is not None
    reports = operator(stack, "reports")
    member, report = uid("m"), uid("r")
    try:
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu"))
        # Submitted first (a status may not predate its report: time_before_submission), published last.
        submitted = report_submitted(report, member, "nanqu", "other")
        status = status_changed(report, "nanqu", "dispatched", "城管")
        await publish(stack.info.bootstrap, topics.REPORTS, report, status)  # before its report: parked
        [parked] = await eventually(lambda: parked_of(reports, f"report:{report}"), what="the status parked")
        assert parked["event_id"] == status["id"] and parked["type"] == "report.status_changed"
        assert parked["topic"] == topics.REPORTS and parked["record"]["data"]["report_id"] == report
        assert parked["gives_up_at"] > parked["parked_at"]  # parked_at + the grace (PARK_GRACE_S here)
        which = {"source": parked["source"], "event_id": parked["event_id"]}

        # Released while its report is still missing: it runs, and parks again.
        released = await reports.post("/v1/parked-events/release", json=which)
        assert released.status_code == 200, released.text
        assert released.json()["outcome"] == "parked"
        # Dead-lettered by the operator (before the sweep would, after PARK_GRACE_S).
        dropped = await reports.post("/v1/parked-events/dead-letter", json={**which, "note": f"ring {PHONE}"})
        assert dropped.status_code == 200, dropped.text
        assert dropped.json() == {**which, "outcome": "dead_lettered", "reason": "dead_lettered_by_operator"}
        assert await parked_of(reports, f"report:{report}") is None
        assert (await reports.post("/v1/parked-events/release", json=which)).status_code == 404

        dead = await dead_letter_of(reports, status["id"], reason="dead_lettered_by_operator")
        assert (
            dead is not None
            and PHONE not in dead["message"]
            and fingerprint(stack.info.operator_token) in dead["message"]
        )
        # The report arrives; the dead letter replayed applies the status.
        await publish(stack.info.bootstrap, topics.REPORTS, report, submitted)
        await eventually(lambda: status_is(reports, report, "submitted"), what="the report")
        r = await reports.post(f"/v1/dead-letters/{dead['dead_letter_id']}/replay")
        assert r.json()["replayed"][0]["outcome"] == "applied", r.text
        await eventually(lambda: status_is(reports, report, "dispatched"), what="the replayed status")

        actions = (await reports.get("/v1/operator-actions", limit=200)).json()["items"]
        mine = [(a["action"], a["detail"]) for a in actions if status["id"] in a["target"]]
        assert mine == [
            ("parked.dead_letter", "dead_lettered (dead_lettered_by_operator)"),
            ("parked.release", "parked"),
        ]
    finally:
        await reports.aclose()
    assert PARK_GRACE_S > 0


async def test_member_lookups_are_audited_without_the_number(stack: Stack) -> None:
    assert stack.info is not None
    points = operator(stack, "points")
    member = uid("m")
    try:
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu", phone=PHONE))

        async def found() -> list[str] | None:
            r = await points.post("/v1/members/lookup", json={"phone": PHONE})
            assert r.status_code == 200, r.text
            return r.json()["member_ids"] or None

        assert await eventually(found, what="the member found by phone") == [member]
        page = (await points.get("/v1/member-lookups", member_id=member)).json()
        assert page["items"] and page["items"][0]["member_ids"] == [member]
        assert page["items"][0]["kind"] == "phone"
        assert page["items"][0]["actor"] == fingerprint(stack.info.operator_token)
        everything = (await points.get("/v1/member-lookups", limit=200)).json()
        assert PHONE not in str(everything) and PHONE[-8:] not in str(everything)
    finally:
        await points.aclose()
