"""The thin flow through all four services, on the real broker and database, as processes.

member.registered -> report.submitted -> report.status_changed(accepted) -> report.verified (reports)
-> ledger credit + points.credited (points) -> zh-CN inbox notification (notify), all visible over
HTTP with a token; every event delivered three times has one effect; malformed messages land in
the DLQ with the contract's headers and the next good message is processed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from incentives_kernel import topics
from incentives_ops.demo import member_registered, report_rated, report_submitted, status_changed
from incentives_ops.stack import Stack

from tests.support import Api, eventually, publish, read_topic, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


@dataclass
class Apis:
    reports: Api
    points: Api
    rewards: Api
    notify: Api
    operator: dict[str, Api]
    anonymous: Api


@pytest_asyncio.fixture(loop_scope="session")
async def apis(stack: Stack) -> AsyncIterator[Apis]:
    assert stack.info is not None
    urls, gw, op = stack.info.urls, stack.info.gateway_token, stack.info.operator_token
    made = Apis(
        Api(urls["reports"], gw),
        Api(urls["points"], gw),
        Api(urls["rewards"], gw),
        Api(urls["notify"], gw),
        {n: Api(u, op) for n, u in urls.items()},
        Api(urls["points"], None),
    )
    yield made
    for api in (made.reports, made.points, made.rewards, made.notify, made.anonymous, *made.operator.values()):
        await api.aclose()


async def register(stack: Stack, member_id: str, district: str = "nanqu", locale: str = "zh-CN") -> None:
    assert stack.info is not None
    await publish(stack.info.bootstrap, topics.MEMBERS, member_id, member_registered(member_id, district, locale))


async def test_report_accepted_earns_points_and_notifies_in_chinese(stack: Stack, apis: Apis) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    await register(stack, member)
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        report_submitted(report, member, "nanqu", "fire_hazard"),
        status_changed(report, "nanqu", "accepted", "消防 Fire brigade"),
    )

    balance = await eventually(
        lambda: _when(apis.points.json_or_none(f"/v1/members/{member}/balance"), lambda b: b["available"] > 0),
        what="points credited",
    )
    assert balance == {"member_id": member, "available": 10, "held": 0, "star_level": 0, "earned_365d": 10}

    ledger = (await apis.points.get(f"/v1/members/{member}/ledger")).json()
    assert [(line["kind"], line["amount"]) for line in ledger["items"]] == [("report", 10)]
    assert report in ledger["items"][0]["reason"] and ledger["items"][0]["rule_version"]

    shown = (await apis.reports.get(f"/v1/reports/{report}")).json()
    assert shown["status"] == "accepted" and shown["earns_points"] is True
    assert [h["status"] for h in shown["history"]] == ["submitted", "accepted"]

    inbox = await eventually(
        lambda: _when(
            apis.notify.json_or_none(f"/v1/members/{member}/notifications"),
            lambda p: any(n["kind"] == "points_credited" for n in p["items"]),
        ),
        what="points notification",
    )
    credited = next(n for n in inbox["items"] if n["kind"] == "points_credited")
    assert credited["locale"] == "zh-CN" and "10" in credited["title"] and "积分" in credited["body"]

    assert (
        _metric(
            await apis.operator["points"].get("/metrics"), "incentives_points_credited_points_total", 'kind="report"'
        )
        >= 10
    )
    assert (
        _metric(
            await apis.operator["reports"].get("/metrics"),
            "incentives_reports_verified_total",
            'category="fire_hazard"',
        )
        >= 1
    )
    assert (
        _metric(
            await apis.operator["notify"].get("/metrics"),
            "incentives_notify_notifications_created_total",
            'kind="points_credited"',
        )
        >= 1
    )

    published = await read_topic(stack.info.bootstrap, topics.POINTS, lambda r: r.key == member.encode())
    events = [json.loads(r.value) for r in published]
    assert [e["type"] for e in events] == ["points.credited"]
    assert events[0]["data"]["amount"] == 10 and events[0]["specversion"] == "1.0"


async def test_english_rider_gets_english_text_and_rating_earns_one(stack: Stack, apis: Apis) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    await register(stack, member, locale="en")
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        report_submitted(report, member, "nanqu", "road_damage"),
        status_changed(report, "nanqu", "dispatched", "Roads office"),
        status_changed(report, "nanqu", "resolved", "Roads office"),
        report_rated(report, member, "nanqu", 5),
    )
    await eventually(
        lambda: _when(apis.points.json_or_none(f"/v1/members/{member}/balance"), lambda b: b["available"] == 7),
        what="6 for the report and 1 for the rating",
    )
    inbox = await eventually(
        lambda: _when(
            apis.notify.json_or_none(f"/v1/members/{member}/notifications"),
            lambda p: {"report_dispatched", "report_resolved"} <= {n["kind"] for n in p["items"]},
        ),
        what="status notifications",
    )
    assert all(n["locale"] == "en" for n in inbox["items"])
    assert any(n["title"] == "Report resolved" for n in inbox["items"])


async def test_every_event_delivered_three_times_has_one_effect(stack: Stack, apis: Apis) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    registered = member_registered(member, "beiqu")
    submitted = report_submitted(report, member, "beiqu", "traffic_safety")
    accepted = status_changed(report, "beiqu", "accepted", "交警")
    for event in (registered, registered, registered):
        await publish(stack.info.bootstrap, topics.MEMBERS, member, event)
    await publish(
        stack.info.bootstrap, topics.REPORTS, report, submitted, submitted, accepted, submitted, accepted, accepted
    )

    await eventually(
        lambda: _when(apis.points.json_or_none(f"/v1/members/{member}/balance"), lambda b: b["available"] > 0),
        what="points credited",
    )
    # Give any duplicate the time to (wrongly) land, then check there is exactly one of everything.
    await eventually(
        lambda: _when(apis.notify.json_or_none(f"/v1/members/{member}/notifications"), lambda p: len(p["items"]) >= 2),
        what="notifications",
    )
    marker = uid("r")
    await publish(stack.info.bootstrap, topics.REPORTS, marker, report_submitted(marker, member, "beiqu", "other"))
    await eventually(lambda: apis.reports.json_or_none(f"/v1/reports/{marker}"), what="marker after duplicates")

    assert (await apis.points.get(f"/v1/members/{member}/balance")).json()["available"] == 8
    assert len((await apis.points.get(f"/v1/members/{member}/ledger")).json()["items"]) == 1
    history = (await apis.reports.get(f"/v1/reports/{report}")).json()["history"]
    assert [h["status"] for h in history] == ["submitted", "accepted"]
    kinds = sorted(n["kind"] for n in (await apis.notify.get(f"/v1/members/{member}/notifications")).json()["items"])
    assert kinds == ["points_credited", "report_accepted"]
    published = await read_topic(stack.info.bootstrap, topics.POINTS, lambda r: r.key == member.encode())
    assert len(published) == 1
    # The inbox, not the domain rules, absorbed the copies: none was refused into the DLQ.
    dead = await read_topic(
        stack.info.bootstrap, topics.dlq_topic(topics.REPORTS), lambda r: r.key == report.encode(), timeout=2
    )
    assert dead == []
    metrics = (await apis.operator["reports"].get("/metrics")).text
    skipped = [
        line
        for line in metrics.splitlines()
        if line.startswith("incentives_reports_duplicate_events_skipped_total{") and topics.REPORTS in line
    ]
    assert skipped and float(skipped[0].split()[-1]) >= 4


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'{"specversion": "1.0", "id": "x", not json', "invalid_json"),
        ("unknown_type", "unknown_type"),
        ("missing_field", "invalid_data"),
    ],
)
async def test_malformed_message_goes_to_dlq_and_next_is_processed(
    stack: Stack, apis: Apis, bad: object, reason: str
) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    await register(stack, member)
    if bad == "unknown_type":
        value: bytes | dict[str, object] = {
            **report_submitted(report, member, "nanqu", "other"),
            "type": "report.teleported",
        }
    elif bad == "missing_field":
        event = report_submitted(report, member, "nanqu", "other")
        del event["data"]["location"]
        value = event
    else:
        assert isinstance(bad, bytes)
        value = bad
    good = uid("r")
    await publish(stack.info.bootstrap, topics.REPORTS, report, value)
    await publish(stack.info.bootstrap, topics.REPORTS, report, report_submitted(good, member, "nanqu", "sanitation"))

    assert await eventually(lambda: apis.reports.json_or_none(f"/v1/reports/{good}"), what="the next good message")
    dead = await read_topic(stack.info.bootstrap, topics.dlq_topic(topics.REPORTS), lambda r: r.key == report.encode())
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["error.reason"] == reason
    assert headers["error.class"] == "InvalidEvent"
    assert headers["error.service"] == "reports"
    assert headers["original.topic"] == topics.REPORTS
    assert int(headers["original.offset"]) >= 0 and int(headers["original.partition"]) >= 0
    assert headers["error.message"]
    assert dead[0].value == (value if isinstance(value, bytes) else dead[0].value)

    metrics = (await apis.operator["reports"].get("/metrics")).text
    assert f'incentives_reports_dlq_messages_total{{reason="{reason}",topic="{topics.REPORTS}"}}' in metrics


async def test_illegal_transition_is_dead_lettered_with_its_reason(stack: Stack, apis: Apis) -> None:
    assert stack.info is not None
    member, report = uid("m"), uid("r")
    await register(stack, member)
    await publish(
        stack.info.bootstrap,
        topics.REPORTS,
        report,
        report_submitted(report, member, "nanqu", "sanitation"),
        status_changed(report, "nanqu", "resolved", "环卫"),
        status_changed(report, "nanqu", "dispatched", "环卫"),
    )
    dead = await read_topic(stack.info.bootstrap, topics.dlq_topic(topics.REPORTS), lambda r: r.key == report.encode())
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["error.reason"] == "illegal_transition"
    assert "resolved cannot become dispatched" in headers["error.message"]
    shown = (await apis.reports.get(f"/v1/reports/{report}")).json()
    assert shown["status"] == "resolved"


async def test_http_needs_a_token_and_the_right_role(stack: Stack, apis: Apis) -> None:
    r = await apis.anonymous.get("/v1/leaderboard")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    r = await apis.points.post(
        "/v1/adjustments", json={"adjustment_id": uid("a"), "member_id": "m-1", "amount": 5, "reason": "test"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await apis.operator["points"].post("/v1/adjustments", json={"adjustment_id": "bad id!", "amount": 0})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await apis.reports.get("/v1/reports/nope-does-not-exist")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for name in ("reports", "points", "rewards", "notify"):
        api = apis.operator[name]
        assert (await api.get("/healthz")).status_code == 200
        ready = await api.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        assert "faststream_received_messages_total" in (await api.get("/metrics")).text
        assert (await api.get("/openapi.json")).json()["info"]["title"] == f"incentives {name}"
        spec = (await api.get("/asyncapi")).json()
        assert spec["channels"]
        published = {"reports": "ReportVerified", "points": "PointsCredited", "notify": "NotificationCreated"}
        if name in published:
            assert published[name] in spec["components"]["schemas"]


async def test_catalogue_and_adjustment_over_http(stack: Stack, apis: Apis) -> None:
    assert stack.info is not None
    reward = uid("rw")
    r = await apis.operator["rewards"].post(
        "/v1/rewards",
        json={"reward_id": reward, "name": "Tea", "kind": "instant", "cost_points": 20, "initial_stock": 3},
    )
    assert r.status_code == 201 and r.json()["stock_available"] == 3
    r = await apis.operator["rewards"].post(f"/v1/rewards/{reward}/stock", json={"delta": -5, "reason": "count"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_stock"
    listed = (await apis.rewards.get("/v1/rewards")).json()
    assert any(x["reward_id"] == reward for x in listed)

    member = uid("m")
    await register(stack, member)
    await eventually(lambda: apis.points.json_or_none(f"/v1/members/{member}/balance"), what="member known to points")
    body = {"adjustment_id": uid("adj"), "member_id": member, "amount": 15, "reason": "goodwill"}
    first = await apis.operator["points"].post("/v1/adjustments", json=body)
    again = await apis.operator["points"].post("/v1/adjustments", json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["available"] == again.json()["available"] == 15
    r = await apis.operator["points"].post("/v1/adjustments", json={**body, "adjustment_id": uid("adj"), "amount": -99})
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_points"


def _metric(response: object, name: str, label: str) -> float:
    """The sum of the samples of `name` whose labels contain `label`."""
    text = response.text  # type: ignore[attr-defined]
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{") and label in line
    )


async def _when(fetch: object, ok: object) -> object:
    value = await fetch  # type: ignore[misc]
    return value if value is not None and ok(value) else None  # type: ignore[operator]
