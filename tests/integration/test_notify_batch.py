"""Notify's set-based fan-out (`usecases.notify_many`, what the consumer's whole-batch path runs for a
run of points events) leaves exactly what the per-event path (`usecases.notify`) leaves: the same
notifications, push events (byte for byte but for the instants), deferred pushes and webhook
deliveries, the same outcomes (parked, notified already), the same metrics, and nothing more when
the same events come again."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from incentives_kernel.events import (
    AllocationDisqualified,
    AllocationLost,
    CaseState,
    MemberLevelChanged,
    NeedCategory,
    NeedLifecycleChanged,
    NeedOverdue,
    NeedRejectionReason,
    PointsCapped,
    PointsDebited,
    PointsReversed,
    RedemptionConfirmed,
    RedemptionRejected,
    RedemptionRejectionReason,
    RejectionReason,
    ReportCategory,
    ReportLifecycleChanged,
    ReportOverdue,
    ReportStatus,
    SourceRef,
)
from incentives_kernel.outcome import Outcome, Park
from incentives_kernel.uow import UnitOfWork, source_of
from notify import repository as repo
from notify import usecases
from notify.metrics import NotifyMetrics
from notify.preferences import Preferences
from prometheus_client import CollectorRegistry

from tests.integration.notify_support import SECRET, Notify, credited, notify_db, parsed
from tests.integration.test_notify_channels import new_member, rewards_events
from tests.support import uid

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["notify_db"]  # the fixture, imported


_INSTANTS = re.compile(rb'"(time|created_at)":"[^"]*"')


def instantless(value: bytes) -> bytes:
    """The exact bytes, but for the instants that differ between two transactions (now())."""
    return _INSTANTS.sub(rb'"\1":"-"', value)


def counted(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of notify's metrics in `registry`, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")  # the series' creation times
    }


def timeless(value: Any) -> Any:
    """A JSON document without the instants that differ between two transactions (now())."""
    doc = json.loads(value) if isinstance(value, (bytes, str)) else dict(value)
    for where in (doc, doc.get("data") or {}):
        for key in ("time", "created_at"):
            where.pop(key, None)
    return doc


class Undo(Exception):
    """Rolls a path's transaction back once its effects were read."""


async def effects(
    n: Notify, events: list[Any], members: list[str], *, batched: bool, twice: bool = False
) -> dict[str, Any]:
    """What a path leaves (read in its transaction, then rolled back), its metrics counted after it.

    `twice`: the same events again in the same transaction, as a redelivery; what it adds is kept
    apart (`again`: its outcomes), the rows are what both runs left."""
    registry = CollectorRegistry()
    wakes: list[str] = []
    ctx = usecases.Context(metrics=NotifyMetrics(registry), wake_webhooks=lambda: wakes.append("wake"))
    seen: dict[str, Any] = {}

    async def run(uow: UnitOfWork) -> list[Outcome | str]:
        if batched:
            return list(await usecases.notify_many(uow, events, ctx=ctx))
        outcomes: list[Outcome | str] = []
        for event in events:
            try:
                async with uow.savepoint():
                    outcomes.append(await usecases.notify_asked(uow, event, ctx=ctx))
            except Park as wait:
                outcomes.append(f"parked {wait.awaiting}: {wait}")
        return outcomes

    async with n.pool.acquire() as conn:
        try:
            async with conn.transaction():
                uow = UnitOfWork(conn, source_of("notify"))
                outcomes = await run(uow)
                if twice:
                    seen["again"] = ["parked" if isinstance(o, str) else o.kind for o in await run(uow)]
                await uow.flush()
                uow.committed(lambda: None)  # the after-commit callbacks: the metrics
                seen["metrics"] = counted(registry)
                seen["woke webhooks"] = bool(wakes)
                seen["outcomes"] = [
                    o if isinstance(o, str) else (f"parked {o.awaiting}: {o.reason}" if o.kind == "parked" else o)
                    for o in outcomes
                ]
                seen["notifications"] = [
                    tuple(r)
                    for r in await conn.fetch(
                        """SELECT notification_id, member_id, kind, locale, title, body, source_event, cause_type
                           FROM notifications WHERE member_id = ANY($1::text[]) ORDER BY seq""",
                        members,
                    )
                ]
                seen["pushes"] = [
                    (r["event_id"], r["key"], instantless(r["value"]), timeless(r["value"]), r["headers"])
                    for r in await conn.fetch(
                        """SELECT event_id, key, value, headers FROM outbox
                           WHERE topic = 'incentives.notifications.v1' AND key = ANY($1::bytea[]) ORDER BY id""",
                        [m.encode() for m in members],
                    )
                ]
                seen["deferred"] = [
                    (r["notification_id"], r["member_id"], timeless(r["data"]), r["created_now"], r["later"])
                    for r in await conn.fetch(
                        """SELECT notification_id, member_id, data, created_at = now() AS created_now,
                                  due_at > now() AS later FROM deferred_pushes
                           WHERE member_id = ANY($1::text[]) ORDER BY notification_id""",
                        members,
                    )
                ]
                seen["deliveries"] = [
                    (*tuple(r)[:7], instantless(r["body"]), r["due_now"])
                    for r in await conn.fetch(
                        """SELECT delivery_id, notification_id, webhook_id, member_id, kind, event_type, status, body,
                                  next_attempt_at = created_at AS due_now
                           FROM webhook_deliveries WHERE member_id = ANY($1::text[]) ORDER BY seq""",
                        members,
                    )
                ]
                raise Undo
        except Undo:
            pass
    return seen


async def test_the_set_based_fan_out_leaves_what_the_per_event_path_leaves(notify_db: Notify) -> None:
    n = notify_db
    zh, en, muted, quiet = [await new_member(n, loc) for loc in ("zh-CN", "en", "en", "zh-CN")]
    unknown = uid("m-later")
    async with n.pool.acquire() as conn:
        await repo.insert_webhook(conn, uid("wh"), "http://127.0.0.1:9/x", ["points.credited"], SECRET, "operator:test")
        await repo.insert_webhook(
            conn, uid("wh"), "http://127.0.0.1:9/y", ["points.credited", "points.reversed"], SECRET, "operator:test"
        )
        await repo.insert_webhook(conn, uid("wh"), "http://127.0.0.1:9/z", ["report.overdue"], SECRET, "operator:test")
        await repo.put_preferences(conn, muted, Preferences(muted_kinds=frozenset({"points_credited"})))
        local = (await conn.fetchval("SELECT now()")).astimezone(ZoneInfo("Asia/Shanghai"))
        around = Preferences(
            quiet_start=(local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
            quiet_end=(local + timedelta(hours=1)).time().replace(second=0, microsecond=0),
        )
        await repo.put_preferences(conn, quiet, around)
    already = credited(zh)
    async with n.pool.acquire() as conn, conn.transaction():  # notified before this run
        await usecases.notify_asked(UnitOfWork(conn, source_of("notify")), already, ctx=usecases.Context(n.metrics))
    capped = PointsCapped.model_validate(
        {
            "member_id": en,
            "kind": "report",
            "ref": "r-1",
            "requested": 10,
            "credited": 5,
            "cut": 5,
            "day": "2026-11-21",
            "cap": 30,
            "reason": "daily cap",
            "rule_version": "default@test",
            "source_event": {"source": "/incentives/points", "id": uid("e")},
            "occurred_at": "2026-11-21T10:00:00+08:00",
        }
    )
    level = MemberLevelChanged(
        member_id=zh, from_level=0, to_level=1, earned_365d=120, cause="earned", occurred_at=datetime.now(UTC)
    )

    def reversed_(member: str, cause: str | None) -> Any:
        data = PointsReversed(
            member_id=member,
            transfer_id=uid("t"),
            reverses=uid("t"),
            cause=cause,
            kind="report",
            ref='r-"9"',
            amount=5,
            reason="report found invalid",
            rule_version="default@test",
            balance=-3,
            source_event=SourceRef(source="/incentives/reports", id=uid("e")),
            occurred_at=datetime.now(UTC),
        )
        return parsed("points.reversed", data, member, source="/incentives/points")

    debited = PointsDebited(
        member_id=en,
        transfer_id=uid("t"),
        amount=30,
        kind="redemption",
        ref="h-1",
        reason="redeemed",
        rule_version="default@test",
        balance=10,
        occurred_at=datetime.now(UTC),
    )
    events = [
        credited(zh),
        credited(en, 7),
        credited(unknown),
        already,
        credited(muted),
        credited(quiet),
        parsed("points.capped", capped, en, source="/incentives/points"),
        parsed("member.level_changed", level, zh, source="/incentives/points"),
        reversed_(en, "fraudulent"),
        reversed_(quiet, None),
        reversed_(muted, "invalid"),
        parsed("points.debited", debited, en, source="/incentives/points"),
        credited(zh, 9),
    ]
    members = [zh, en, muted, quiet, unknown]
    one = await effects(n, events, members, batched=False, twice=True)
    many = await effects(n, events, members, batched=True, twice=True)
    assert many == one
    kinds = [o if isinstance(o, str) else o.kind for o in one["outcomes"]]
    assert kinds == [
        "applied",
        "applied",
        f"parked member:{unknown}: member {unknown} is not registered yet",
        "ignored",
        *["applied"] * 9,
    ]
    assert one["again"] == ["ignored", "ignored", "parked", *["ignored"] * 10]  # a redelivery adds nothing
    # What the comparison holds is not empty: every channel and outcome is in it (already's inbox row and
    # deliveries were there before; its push was never flushed).
    assert len(one["notifications"]) == 11 + 1 and len(one["pushes"]) == 8 and len(one["deferred"]) == 2
    assert len(one["deliveries"]) == 11 + 2 and one["woke webhooks"]
    delivered = {
        labels[0][1] + " " + labels[1][1]: value
        for (name, labels), value in one["metrics"].items()
        if name == "incentives_notify_deliveries_total" and value
    }
    assert delivered == {
        "inbox delivered": 11,
        "push delivered": 8,
        "push deferred": 2,
        "push muted": 1,
        "webhook deferred": 3,
        "webhook muted": 2,
    }


async def test_every_other_type_goes_set_based_and_leaves_what_the_per_event_path_leaves(notify_db: Notify) -> None:
    """Report and need steps, redemptions and allocations (rewards' 990 refusals in a rush are one run):
    the same rows, pushes, deliveries, outcomes and metrics either way, an allocation's confirmation
    `ignored` before its member is looked up (so not parked for an unknown one)."""
    n = notify_db
    zh, en, muted = [await new_member(n, loc) for loc in ("zh-CN", "en", "en")]
    unknown = uid("m-later")
    async with n.pool.acquire() as conn:
        await repo.insert_webhook(
            conn, uid("wh"), "http://127.0.0.1:9/r", ["redemption.rejected", "need.lifecycle_changed"], SECRET, "op:t"
        )
        await repo.put_preferences(conn, muted, Preferences(muted_kinds=frozenset({"redemption_rejected"})))
    at = datetime.now(UTC)
    rewards = rewards_events(en)
    unnamed = RedemptionRejected(
        member_id=zh, reward_id="gone", redemption_id=uid("rd"), reward_name=None,
        reason=RedemptionRejectionReason.OUT_OF_STOCK, detail="no units left", occurred_at=at,
    )  # fmt: skip

    def rejected(member: str) -> Any:
        data = RedemptionRejected(
            member_id=member, reward_id="camp", redemption_id=uid("rd"), reward_name="Summer camp",
            reason=RedemptionRejectionReason.OUT_OF_STOCK, detail="no units left", occurred_at=at,
        )  # fmt: skip
        return parsed("redemption.rejected", data, member)

    allocated = RedemptionConfirmed(
        member_id=unknown, reward_id="school", redemption_id=uid("rd"), reward_name="School place",
        kind="allocation", round_id="round-9", cost_points=0, voucher_code="VC-1", occurred_at=at,
    )  # fmt: skip
    report_step = ReportLifecycleChanged(
        report_id=uid("r"), member_id=zh, category=ReportCategory.FIRE_HAZARD, status=ReportStatus.DISPATCHED,
        department="fire-dept", previous_department=None, transfer=True, changed_at=at,
    )  # fmt: skip
    refused = ReportLifecycleChanged(
        report_id=uid("r"), member_id=en, category=ReportCategory.SANITATION, status=ReportStatus.REJECTED,
        reason=RejectionReason.DUPLICATE, changed_at=at,
    )  # fmt: skip
    need_step = NeedLifecycleChanged(
        need_id=uid("n"), member_id=en, category=NeedCategory.HEALTH, status=CaseState.REJECTED,
        reason=NeedRejectionReason.DUPLICATE, changed_at=at,
    )  # fmt: skip
    late = {"category": ReportCategory.ROAD_DAMAGE, "district": "d1", "status": "accepted"}
    times = {"submitted_at": at, "due_at": at, "overdue_at": at}
    report_late = ReportOverdue(report_id=uid("r"), member_id=zh, **late, **times)  # type: ignore[arg-type]
    need_late = NeedOverdue(
        need_id=uid("n"), member_id=en, category=NeedCategory.HOUSING, district="d1", status="dispatched", **times
    )
    lost = AllocationLost(round_id="round-9", reward_name="School place", rank=None, quota=3, reason="not_eligible",
                          member_id=zh, reward_id="school", occurred_at=at)  # fmt: skip
    disqualified = AllocationDisqualified(
        round_id="round-9", reward_name="School place", rank=2, reason="moved away", points_returned=50,
        member_id=en, reward_id="school", occurred_at=at,
    )  # fmt: skip
    events = [
        *[parsed(t, d, en) for t, d in rewards.items()],
        parsed("redemption.rejected", unnamed, zh),
        *[rejected(m) for m in (zh, en, muted, unknown, zh)],
        parsed("redemption.confirmed", allocated, unknown),
        parsed("report.lifecycle_changed", report_step, zh, source="/incentives/reports"),
        parsed("report.lifecycle_changed", refused, en, source="/incentives/reports"),
        parsed("need.lifecycle_changed", need_step, en, source="/incentives/reports"),
        parsed("report.overdue", report_late, zh, source="/incentives/reports"),
        parsed("need.overdue", need_late, en, source="/incentives/reports"),
        parsed("allocation.lost", lost, zh),
        parsed("allocation.disqualified", disqualified, en),
        credited(en),
    ]
    # with the test above, every type notify tells
    assert set(usecases.ASKS) - {e.type for e in events} == {
        "points.debited",
        "points.reversed",
        "points.capped",
        "member.level_changed",
    }
    members = [zh, en, muted, unknown]
    one = await effects(n, events, members, batched=False, twice=True)
    many = await effects(n, events, members, batched=True, twice=True)
    assert many == one
    kinds = [o if isinstance(o, str) else o.kind for o in one["outcomes"]]
    assert kinds.count("applied") == len(events) - 2
    assert kinds[len(rewards) + 4] == f"parked member:{unknown}: member {unknown} is not registered yet"
    assert one["outcomes"][len(rewards) + 6].reason == "an allocation place is announced by allocation.won"
    assert len(one["notifications"]) == len(events) - 2
    # the subscribed types only: 5 refusals told (of 7: one muted, one parked) and the need's refusal
    assert len(one["deliveries"]) == 5 + 1 and one["woke webhooks"]
    texts_of = {r[2]: r[5] for r in one["notifications"]}
    assert texts_of["allocation_lost"] and texts_of["need_rejected"] and texts_of["report_transferred"]
