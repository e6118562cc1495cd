"""Notify's set-based fan-out (`usecases.notify_many`, what the consumer's whole-batch path runs for a
run of points events) leaves exactly what the per-event path leaves: the same notifications, push
events, deferred pushes and webhook deliveries, and the same outcomes (parked, notified already)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from incentives_kernel.events import MemberLevelChanged, PointsCapped
from incentives_kernel.outcome import Outcome, Park
from incentives_kernel.uow import UnitOfWork, source_of
from notify import repository as repo
from notify import usecases
from notify.preferences import Preferences

from tests.integration.notify_support import SECRET, Notify, credited, notify_db, parsed
from tests.integration.test_notify_channels import new_member
from tests.support import uid

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["notify_db"]  # the fixture, imported


def timeless(value: Any) -> Any:
    """A JSON document without the instants that differ between two transactions (now())."""
    doc = json.loads(value) if isinstance(value, (bytes, str)) else dict(value)
    for where in (doc, doc.get("data") or {}):
        for key in ("time", "created_at"):
            where.pop(key, None)
    return doc


class Undo(Exception):
    """Rolls a path's transaction back once its effects were read."""


async def effects(n: Notify, events: list[Any], members: list[str], *, batched: bool) -> dict[str, Any]:
    ctx = usecases.Context(metrics=n.metrics)
    seen: dict[str, Any] = {}
    async with n.pool.acquire() as conn:
        try:
            async with conn.transaction():
                uow = UnitOfWork(conn, source_of("notify"))
                if batched:
                    outcomes: list[Outcome | str] = list(await usecases.notify_many(uow, events, ctx=ctx))
                else:
                    outcomes = []
                    for event in events:
                        try:
                            async with uow.savepoint():
                                outcomes.append(await usecases.notify_asked(uow, event, ctx=ctx))
                        except Park as wait:
                            outcomes.append(f"parked {wait.awaiting}: {wait}")
                await uow.flush()
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
                    (r["event_id"], r["key"], timeless(r["value"]), r["headers"])
                    for r in await conn.fetch(
                        """SELECT event_id, key, value, headers FROM outbox
                           WHERE topic = 'incentives.notifications.v1' AND key = ANY($1::bytea[]) ORDER BY id""",
                        [m.encode() for m in members],
                    )
                ]
                seen["deferred"] = [
                    (r["notification_id"], r["member_id"], timeless(r["data"]))
                    for r in await conn.fetch(
                        """SELECT notification_id, member_id, data FROM deferred_pushes
                           WHERE member_id = ANY($1::text[]) ORDER BY notification_id""",
                        members,
                    )
                ]
                seen["deliveries"] = [
                    (*tuple(r)[:5], timeless(r["body"]))
                    for r in await conn.fetch(
                        """SELECT delivery_id, notification_id, webhook_id, member_id, kind, body
                           FROM webhook_deliveries WHERE member_id = ANY($1::text[]) ORDER BY delivery_id""",
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
    events = [
        credited(zh),
        credited(en, 7),
        credited(unknown),
        already,
        credited(muted),
        credited(quiet),
        parsed("points.capped", capped, en, source="/incentives/points"),
        parsed("member.level_changed", level, zh, source="/incentives/points"),
        credited(zh, 9),
    ]
    members = [zh, en, muted, quiet, unknown]
    one = await effects(n, events, members, batched=False)
    many = await effects(n, events, members, batched=True)
    assert many == one
    kinds = [o if isinstance(o, str) else o.kind for o in one["outcomes"]]
    assert kinds == [
        "applied",
        "applied",
        f"parked member:{unknown}: member {unknown} is not registered yet",
        "ignored",
        "applied",
        "applied",
        "applied",
        "applied",
        "applied",
    ]
    assert len(one["deferred"]) == 1 and len(one["deliveries"]) >= 4
