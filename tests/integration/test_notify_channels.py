"""Notify's channels on a real PostgreSQL: one notification per (event, member, channel) across
redeliveries, quiet hours that defer push and webhooks (never the inbox), muted kinds, and the texts
of the six rewards events in both languages, through the service's own use cases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from incentives_kernel.events import (
    AllocationLost,
    AllocationWon,
    RedemptionCancelled,
    RedemptionConfirmed,
    RedemptionFulfilled,
    RedemptionRejected,
    RedemptionRejectionReason,
)
from incentives_kernel.parking import Park
from incentives_kernel.uow import source_of, units_of_work
from notify import delivery, usecases
from notify import repository as repo
from notify.preferences import Preferences, quiet_until

from tests.integration.notify_support import SECRET, Notify, credited, handle, notify_db, parsed
from tests.support import uid

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["notify_db"]  # the fixture, imported

AT = "2026-11-21T10:00:00+08:00"


async def pushes(n: Notify, member: str) -> list[dict[str, Any]]:
    async with n.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, value FROM outbox WHERE topic = 'incentives.notifications.v1' ORDER BY id"
        )
    return [
        {"id": r["event_id"], **json.loads(r["value"])} for r in rows if json.loads(r["value"])["subject"] == member
    ]


async def count(n: Notify, sql: str, *args: Any) -> int:
    async with n.pool.acquire() as conn:
        value: int = await conn.fetchval(sql, *args)
    return value


async def new_member(n: Notify, locale: str = "zh-CN") -> str:
    member = uid("m")
    async with n.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO members (member_id, district, occupation, locale, registered_at, as_of)
               VALUES ($1, 'nanqu', 'courier', $2, now(), now())""",
            member,
            locale,
        )
    return member


async def test_one_notification_per_event_member_and_channel_across_redeliveries(notify_db: Notify) -> None:
    n = notify_db
    member = await new_member(n)
    async with n.pool.acquire() as conn:
        await repo.insert_webhook(
            conn, uid("wh"), "http://127.0.0.1:9/never", ["points.credited"], SECRET, "operator:test"
        )
    event = credited(member)
    outcomes = [await handle(n, event) for _ in range(3)]
    assert [o.kind for o in outcomes] == ["applied", "ignored", "ignored"]
    assert outcomes[1].reason == "notified already"

    cause = f"{event.envelope.source}#{event.envelope.id}"
    inbox_id = usecases.notification_id(cause, member, "inbox")
    assert await count(n, "SELECT count(*) FROM notifications WHERE member_id = $1", member) == 1
    assert await count(n, "SELECT count(*) FROM notifications WHERE notification_id = $1", inbox_id) == 1
    [push] = await pushes(n, member)
    assert push["id"] == usecases.notification_id(cause, member, "push")
    assert push["type"] == "notification.created"
    assert push["data"]["notification_id"] == inbox_id  # the id the app marks read
    webhook_id = usecases.notification_id(cause, member, "webhook")
    assert await count(n, "SELECT count(*) FROM webhook_deliveries WHERE member_id = $1", member) == 1
    assert await count(n, "SELECT count(*) FROM webhook_deliveries WHERE notification_id = $1", webhook_id) == 1
    assert len({inbox_id, push["id"], webhook_id}) == 3


async def test_quiet_hours_defer_push_and_webhooks_but_never_the_inbox(notify_db: Notify) -> None:
    n = notify_db
    member = await new_member(n, "en")
    async with n.pool.acquire() as conn:
        hook = uid("wh")
        await repo.insert_webhook(conn, hook, "http://127.0.0.1:9/never", ["points.credited"], SECRET, "operator:test")
        db_now: datetime = await conn.fetchval("SELECT now()")
        local = db_now.astimezone(ZoneInfo("Asia/Shanghai"))
        # A quiet period around the present, in the member's (default) zone.
        prefs = Preferences(
            quiet_start=(local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
            quiet_end=(local + timedelta(hours=1)).time().replace(second=0, microsecond=0),
        )
        await repo.put_preferences(conn, member, prefs)

    await handle(n, credited(member))
    assert await count(n, "SELECT count(*) FROM notifications WHERE member_id = $1", member) == 1  # inbox: now
    assert await pushes(n, member) == []
    async with n.pool.acquire() as conn:
        created = await conn.fetchval("SELECT created_at FROM notifications WHERE member_id = $1", member)
        deferred = await conn.fetchrow("SELECT * FROM deferred_pushes WHERE member_id = $1", member)
        pending = await conn.fetchrow("SELECT * FROM webhook_deliveries WHERE member_id = $1", member)
    due = quiet_until(created, prefs, "Asia/Shanghai")
    assert due is not None
    assert timedelta(0) < due - created <= timedelta(hours=1)
    assert deferred["due_at"] == due
    assert pending["next_attempt_at"] == due
    assert pending["status"] == "pending"
    assert n.sample("incentives_notify_deliveries_total", channel="push", outcome="deferred") == 1
    assert n.sample("incentives_notify_deliveries_total", channel="webhook", outcome="deferred") == 1
    assert n.sample("incentives_notify_deliveries_total", channel="inbox", outcome="delivered") >= 1

    # Still quiet: nothing is released.
    assert await delivery.release_due_pushes(units_of_work(n.pool, source_of("notify")), n.metrics) == 0
    # The quiet period ends (moved into the past rather than waiting an hour): the push goes out.
    async with n.pool.acquire() as conn:
        await conn.execute(
            "UPDATE deferred_pushes SET due_at = now() - interval '1 second' WHERE member_id = $1", member
        )
    woken: list[bool] = []
    assert (
        await delivery.release_due_pushes(
            units_of_work(n.pool, source_of("notify"), wake=lambda: woken.append(True)), n.metrics
        )
        >= 1
    )
    assert woken == [True]
    [push] = await pushes(n, member)
    assert push["id"] == deferred["notification_id"]
    assert push["data"]["locale"] == "en"
    assert push["data"]["title"] == "+5 points"
    assert await count(n, "SELECT count(*) FROM deferred_pushes WHERE member_id = $1", member) == 0
    assert n.sample("incentives_notify_deliveries_total", channel="push", outcome="delivered") >= 1
    assert n.sample("incentives_notify_delivery_latency_seconds_count", channel="push") >= 1


async def test_muted_kinds_reach_only_the_inbox(notify_db: Notify) -> None:
    n = notify_db
    member = await new_member(n)
    async with n.pool.acquire() as conn:
        await repo.insert_webhook(
            conn, uid("wh"), "http://127.0.0.1:9/never", ["points.credited"], SECRET, "operator:test"
        )
        await repo.put_preferences(conn, member, Preferences(muted_kinds=frozenset({"points_credited"})))
    before = {
        c: n.sample("incentives_notify_deliveries_total", channel=c, outcome="muted") for c in ("push", "webhook")
    }
    await handle(n, credited(member))
    assert await count(n, "SELECT count(*) FROM notifications WHERE member_id = $1", member) == 1
    assert await pushes(n, member) == []
    assert await count(n, "SELECT count(*) FROM deferred_pushes WHERE member_id = $1", member) == 0
    assert await count(n, "SELECT count(*) FROM webhook_deliveries WHERE member_id = $1", member) == 0
    for channel in ("push", "webhook"):
        assert n.sample("incentives_notify_deliveries_total", channel=channel, outcome="muted") == before[channel] + 1


async def test_webhooks_get_only_their_types_and_a_disabled_one_nothing(notify_db: Notify) -> None:
    n = notify_db
    member = await new_member(n)
    async with n.pool.acquire() as conn:
        rewards_only = uid("wh")
        await repo.insert_webhook(
            conn, rewards_only, "http://127.0.0.1:9/a", ["redemption.confirmed"], SECRET, "operator:test"
        )
        points = uid("wh")
        await repo.insert_webhook(conn, points, "http://127.0.0.1:9/b", ["points.credited"], SECRET, "operator:test")
    await handle(n, credited(member))
    async with n.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT array_agg(webhook_id) FROM webhook_deliveries WHERE member_id = $1", member
        ) == [points]
        assert await repo.disable_webhook(conn, points, "operator:test") == 1  # its pending delivery is cancelled
        assert await conn.fetchval("SELECT status FROM webhook_deliveries WHERE member_id = $1", member) == "cancelled"
    await handle(n, credited(member))
    assert await count(n, "SELECT count(*) FROM webhook_deliveries WHERE member_id = $1", member) == 1


def rewards_events(member: str) -> dict[str, Any]:
    common = {"member_id": member, "reward_id": "health-check", "occurred_at": AT}
    return {
        "redemption.confirmed": RedemptionConfirmed(
            redemption_id="rd-1",
            reward_name="Health check-up",
            kind="instant",
            cost_points=120,
            voucher_code="VC-7Q2K9",
            **common,
        ),
        "redemption.rejected": RedemptionRejected(
            redemption_id="rd-2",
            reward_name="Health check-up",
            reason=RedemptionRejectionReason.OUT_OF_STOCK,
            detail="stock 0",
            **common,
        ),
        "redemption.fulfilled": RedemptionFulfilled(redemption_id="rd-1", reward_name="Health check-up", **common),
        "redemption.cancelled": RedemptionCancelled(
            redemption_id="rd-3",
            reward_name="Health check-up",
            points_returned=88,
            cancelled_by="operator",
            reason="damaged stock",
            **common,
        ),
        "allocation.won": AllocationWon(
            round_id="round-1",
            reward_name="Health check-up",
            rank=3,
            redemption_id="rd-4",
            voucher_code="VC-ALLOC1",
            cost_points=300,
            **common,
        ),
        "allocation.lost": AllocationLost(
            round_id="round-1", reward_name="Health check-up", rank=17, quota=5, reason="outranked", **common
        ),
    }


EXPECTED = {
    ("redemption.confirmed", "zh-CN"): ("兑换成功：Health check-up", ["120", "VC-7Q2K9"]),
    ("redemption.confirmed", "en"): ("Redeemed: Health check-up", ["120 points spent", "VC-7Q2K9"]),
    ("redemption.rejected", "zh-CN"): ("兑换未成功", ["Health check-up", "奖品已兑完"]),
    ("redemption.rejected", "en"): ("Redemption not completed", ["Health check-up", "it is out of stock"]),
    ("redemption.fulfilled", "zh-CN"): ("奖品已领取：Health check-up", ["已发放"]),
    ("redemption.fulfilled", "en"): ("Reward collected: Health check-up", ["You have received Health check-up"]),
    ("redemption.cancelled", "zh-CN"): ("兑换已取消：Health check-up", ["工作人员", "88 积分已退回"]),
    ("redemption.cancelled", "en"): ("Redemption cancelled: Health check-up", ["by an operator", "88 points"]),
    ("allocation.won", "zh-CN"): ("恭喜获得名额：Health check-up", ["排名第 3", "300", "VC-ALLOC1"]),
    ("allocation.won", "en"): ("You won a place: Health check-up", ["ranked 3", "300", "VC-ALLOC1"]),
    ("allocation.lost", "zh-CN"): ("本轮未获得名额：Health check-up", ["5 个名额", "排名第 17", "排名未进入名额范围"]),
    ("allocation.lost", "en"): (
        "No place this round: Health check-up",
        ["5 places", "ranked 17", "others ranked higher"],
    ),
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_rewards_events_are_notified_in_the_members_language(notify_db: Notify, locale: str) -> None:
    n = notify_db
    member = await new_member(n, locale)
    for type_, data in rewards_events(member).items():
        outcome = await handle(n, parsed(type_, data, member))
        assert outcome.kind == "applied", type_
        async with n.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM notifications WHERE member_id = $1 AND cause_type = $2", member, type_
            )
        title, figures = EXPECTED[(type_, locale)]
        assert row["kind"] == type_.replace(".", "_")
        assert row["locale"] == locale
        assert row["title"] == title
        for figure in figures:
            assert figure in row["body"], (type_, locale, figure, row["body"])
    assert len(await pushes(n, member)) == 6


async def test_rewards_edge_cases(notify_db: Notify) -> None:
    n = notify_db
    member = await new_member(n, "en")
    events = rewards_events(member)
    # An allocation place is told once, by allocation.won, not again by its redemption.confirmed.
    allocation = events["redemption.confirmed"].model_copy(update={"kind": "allocation", "round_id": "round-1"})
    outcome = await handle(n, parsed("redemption.confirmed", allocation, member))
    assert (outcome.kind, outcome.reason) == ("ignored", "an allocation place is announced by allocation.won")
    # A rejection for a reward that does not exist, a loss without a rank, a cancellation by the member.
    unknown = events["redemption.rejected"].model_copy(
        update={"reward_name": None, "reason": RedemptionRejectionReason.TIMED_OUT}
    )
    unranked = events["allocation.lost"].model_copy(update={"rank": None, "reason": "insufficient_points"})
    own = events["redemption.cancelled"].model_copy(update={"cancelled_by": "member"})
    for type_, data in (("redemption.rejected", unknown), ("allocation.lost", unranked), ("redemption.cancelled", own)):
        assert (await handle(n, parsed(type_, data, member))).kind == "applied"
    async with n.pool.acquire() as conn:
        bodies = {
            r["kind"]: r["body"]
            for r in await conn.fetch("SELECT kind, body FROM notifications WHERE member_id = $1", member)
        }
    assert set(bodies) == {"redemption_rejected", "allocation_lost", "redemption_cancelled"}
    assert bodies["redemption_rejected"] == (
        "Your redemption of the reward did not go through: it took too long, please try again later."
    )
    assert bodies["allocation_lost"] == (
        "This round had 5 places and you did not get one: not enough available points."
    )
    assert "cancelled by you;" in bodies["redemption_cancelled"]


async def test_a_member_unknown_yet_parks_the_event(notify_db: Notify) -> None:
    n = notify_db
    with pytest.raises(Park) as parked:
        await handle(n, parsed("redemption.fulfilled", rewards_events("m-later")["redemption.fulfilled"], "m-later"))
    assert parked.value.awaiting == "member:m-later"
