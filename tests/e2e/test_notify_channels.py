"""Notify as other systems see it: rewards events on incentives.rewards.v1 reach the inbox in the rider's
language; the inbox API (unread filter, read marking, keyset pages); webhooks registered over HTTP and
delivered signed to a real local receiver; preferences. (A worker process that dies between a send
and its record is in tests/integration/test_notify_webhooks.py: restarting the stack's notify twice
costs half a minute of consumer-group joins.)"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from incentives_kernel import topics
from incentives_kernel.envelope import build_event
from incentives_kernel.events import (
    AllocationLost,
    AllocationWon,
    RedemptionCancelled,
    RedemptionConfirmed,
    RedemptionFulfilled,
    RedemptionRejected,
    RedemptionRejectionReason,
)
from incentives_ops.demo import member_registered
from incentives_ops.stack import Stack
from notify import webhooks
from pydantic import BaseModel

from tests.receiver import Receiver, running
from tests.support import Api, eventually, publish, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SECRET = "whsec_" + base64.b64encode(b"e2e-webhook-secret-42-0123456789").decode()


def api(stack: Stack, operator: bool = False) -> Api:
    assert stack.info is not None
    return Api(stack.info.urls["notify"], stack.info.operator_token if operator else stack.info.gateway_token)


async def all_webhooks(operator: Api, **params: Any) -> list[dict[str, Any]]:
    """Every page of `GET /v1/webhooks`, two at a time: in registration order, none twice."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await operator.get("/v1/webhooks", limit=2, **params, **({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [h["webhook_id"] for h in found]
    assert len(set(ids)) == len(ids)
    order = [(datetime.fromisoformat(h["created_at"]), h["webhook_id"]) for h in found]
    assert order == sorted(order)
    return found


def rewards_event(type_: str, data: BaseModel, member: str) -> dict[str, Any]:
    return build_event(event_id=uid("rw"), source="/incentives/rewards", type=type_, subject=member, data=data)


def rewards_events(member: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    common: dict[str, Any] = {"member_id": member, "reward_id": "camp-place", "occurred_at": now}
    name = "Summer camp place"
    return [
        rewards_event(
            "redemption.confirmed",
            RedemptionConfirmed(
                redemption_id=uid("rd"),
                reward_name=name,
                kind="instant",
                cost_points=80,
                voucher_code="VC-E2E-1",
                **common,
            ),
            member,
        ),
        rewards_event(
            "redemption.rejected",
            RedemptionRejected(
                redemption_id=uid("rd"),
                reward_name=name,
                reason=RedemptionRejectionReason.LIMIT_REACHED,
                detail="1 per year",
                **common,
            ),
            member,
        ),
        rewards_event(
            "redemption.fulfilled", RedemptionFulfilled(redemption_id=uid("rd"), reward_name=name, **common), member
        ),
        rewards_event(
            "redemption.cancelled",
            RedemptionCancelled(
                redemption_id=uid("rd"),
                reward_name=name,
                points_returned=80,
                cancelled_by="member",
                reason="changed plans",
                **common,
            ),
            member,
        ),
        rewards_event(
            "allocation.won",
            AllocationWon(
                round_id="r-e2e",
                reward_name=name,
                rank=2,
                redemption_id=uid("rd"),
                voucher_code="VC-E2E-2",
                cost_points=150,
                **common,
            ),
            member,
        ),
        rewards_event(
            "allocation.lost",
            AllocationLost(round_id="r-e2e", reward_name=name, rank=None, quota=3, reason="not_eligible", **common),
            member,
        ),
    ]


async def inbox(notify: Api, member: str, n: int, **params: Any) -> dict[str, Any] | None:
    body = await notify.json_or_none(f"/v1/members/{member}/notifications", **params)
    return body if body and len(body["items"]) == n else None


async def test_rewards_events_reach_the_inbox_in_each_riders_language(stack: Stack) -> None:
    assert stack.info is not None
    notify = api(stack)
    zh, en = uid("m"), uid("m")
    for member, locale in ((zh, "zh-CN"), (en, "en")):
        await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu", locale))
        events = rewards_events(member)
        # The first one twice: the copy is handled before the last of the six (one partition, in order).
        await publish(stack.info.bootstrap, topics.REWARDS, member, events[0], *events)
    titles = {}
    for member in (zh, en):
        page = await eventually(lambda m=member: inbox(notify, m, 6, limit=50), what="six rewards notifications")
        titles[member] = {i["kind"]: i["title"] for i in page["items"]}
        bodies = {i["kind"]: i["body"] for i in page["items"]}
        assert "VC-E2E-1" in bodies["redemption_confirmed"] and "VC-E2E-2" in bodies["allocation_won"]
    assert titles[zh]["redemption_confirmed"] == "兑换成功：Summer camp place"
    assert titles[en]["redemption_confirmed"] == "Redeemed: Summer camp place"
    assert titles[zh]["allocation_lost"] == "本轮未获得名额：Summer camp place"
    assert titles[en]["redemption_rejected"] == "Redemption not completed"
    assert len((await notify.get(f"/v1/members/{en}/notifications")).json()["items"]) == 6

    # Keyset pages of two, newest first, without overlap; then read marking and the unread filter.
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            await notify.get(f"/v1/members/{en}/notifications", limit=2, **({"cursor": cursor} if cursor else {}))
        ).json()
        seen += [i["notification_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    first = seen[0]
    read = await notify.post(f"/v1/members/{en}/notifications/{first}/read")
    assert read.status_code == 200
    again = await notify.post(f"/v1/members/{en}/notifications/{first}/read")
    assert again.json()["read_at"] == read.json()["read_at"]
    unread = (await notify.get(f"/v1/members/{en}/notifications", unread="true")).json()["items"]
    assert first not in [i["notification_id"] for i in unread] and len(unread) == 5
    assert (await notify.post(f"/v1/members/{zh}/notifications/{first}/read")).status_code == 404  # not theirs
    assert (await notify.get(f"/v1/members/{en}/notifications", cursor="bm90LWEtY3Vyc29y")).status_code == 400
    await notify.aclose()


async def test_webhooks_and_preferences_over_http(stack: Stack) -> None:
    assert stack.info is not None
    gateway, operator = api(stack), api(stack, operator=True)
    good = {
        "url": "http://127.0.0.1:9/x",
        "event_types": ["redemption.confirmed", "redemption.fulfilled"],
        "secret": SECRET,
    }
    assert (await gateway.post("/v1/webhooks", json=good)).status_code == 403
    for bad in (
        {**good, "url": "ftp://example.org/x"},
        {**good, "url": "https://user:pw@example.org/x"},
        {**good, "url": "not a url"},
        {**good, "event_types": []},
        {**good, "event_types": ["points.teleported"]},
        {**good, "secret": "short"},
    ):
        refused = await operator.post("/v1/webhooks", json=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "validation_error"
        assert SECRET not in refused.text

    member = uid("m")
    await publish(stack.info.bootstrap, topics.MEMBERS, member, member_registered(member, "nanqu", "en"))
    with running(Receiver(SECRET)) as receiver:
        created = await operator.post("/v1/webhooks", json={**good, "url": receiver.url})
        assert created.status_code == 201
        hook = created.json()
        webhook_id = hook["webhook_id"]
        try:
            assert hook["secret_set"] is True and "secret" not in hook and SECRET not in created.text
            assert hook["active"] is True and hook["circuit"] == "closed"
            listed = await all_webhooks(operator)
            assert webhook_id in [h["webhook_id"] for h in listed] and SECRET not in json.dumps(listed)
            assert webhook_id in [h["webhook_id"] for h in await all_webhooks(operator, circuit="closed")]
            for elsewhere in ({"circuit": ["open", "half_open"]}, {"attention": "true"}):
                assert webhook_id not in [h["webhook_id"] for h in await all_webhooks(operator, **elsewhere)]

            # A muted kind reaches only the inbox; the other kinds reach the endpoint.
            put = await gateway.http.put(
                f"/v1/members/{member}/preferences", json={"muted_kinds": ["redemption_fulfilled"]}
            )
            assert put.status_code == 200 and put.json()["muted_kinds"] == ["redemption_fulfilled"]
            events = rewards_events(member)
            # fulfilled (muted) first, then confirmed: once confirmed arrives, fulfilled was handled before it.
            await publish(stack.info.bootstrap, topics.REWARDS, member, events[2], events[0])
            await eventually(lambda: asyncio.to_thread(dict, receiver.accepted), what="a signed delivery")
            [request] = receiver.requests
            notify_inbox = await eventually(lambda: inbox(gateway, member, 2), what="both in the inbox")
            assert {i["kind"] for i in notify_inbox["items"]} == {"redemption_confirmed", "redemption_fulfilled"}
            assert request.signature_ok
            body = json.loads(request.body)
            assert body["kind"] == "redemption_confirmed" and body["member_id"] == member
            assert body["title"] == "Redeemed: Summer camp place"
            assert request.headers["webhook-id"] == body["notification_id"]
            assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", request.headers["webhook-signature"])
            assert webhooks.verify(SECRET, request.headers, request.body, now=int(request.headers["webhook-timestamp"]))
            page = (await operator.get(f"/v1/webhooks/{webhook_id}/dead-letters")).json()
            assert page == {"items": [], "next_cursor": None}
            metrics = (await operator.get("/metrics")).text
            assert re.search(
                r'incentives_notify_deliveries_total\{channel="webhook",outcome="delivered"\} [1-9]', metrics
            )
            assert "incentives_notify_webhook_dead_letters" in metrics
        finally:
            disabled = await operator.http.delete(f"/v1/webhooks/{webhook_id}")
        assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert webhook_id not in [h["webhook_id"] for h in await all_webhooks(operator)]
    assert webhook_id in [h["webhook_id"] for h in await all_webhooks(operator, include_disabled="true")]
    assert (await operator.get("/v1/webhooks", cursor="bm90LWEtY3Vyc29y")).status_code == 400
    assert (await operator.get("/v1/webhooks", circuit="melted")).status_code == 422
    assert (await operator.post(f"/v1/webhooks/{webhook_id}/dead-letters/redrive")).status_code == 409
    assert (await operator.post("/v1/webhooks/wh-nope/dead-letters/redrive")).status_code == 404
    assert (await operator.http.delete("/v1/webhooks/wh-nope")).status_code == 404

    for bad in (
        {"muted_kinds": ["no_such_kind"]},
        {"quiet_hours": {"start": "22:00", "end": "22:00"}},
        {"quiet_hours": {"start": "24:00", "end": "07:00"}},
        {"timezone": "Mars/Olympus"},
        {"surprise": True},
    ):
        assert (await gateway.http.put(f"/v1/members/{member}/preferences", json=bad)).status_code == 422, bad
    put = await gateway.http.put(
        f"/v1/members/{member}/preferences",
        json={"quiet_hours": {"start": "22:00", "end": "07:00"}, "timezone": "Asia/Urumqi"},
    )
    assert put.status_code == 200
    got = (await gateway.get(f"/v1/members/{member}/preferences")).json()
    assert got["quiet_hours"] == {"start": "22:00", "end": "07:00"} and got["timezone"] == "Asia/Urumqi"
    assert got["muted_kinds"] == []
    fresh = (await gateway.get(f"/v1/members/{uid('m')}/preferences")).json()
    assert fresh["updated_at"] is None and fresh["timezone"] == "Asia/Shanghai"
    for client in (gateway, operator):
        await client.aclose()
