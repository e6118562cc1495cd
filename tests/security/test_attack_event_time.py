"""Attack: an event dated in the future freezes a member for good.

Before: a CloudEvent `time` years ahead made every later update and the deactivation look stale
(members.py keeps the newest by time). Now: a `time`, or any `*_at` in the data, more than the
allowed skew (INCENTIVES_EVENT_TIME_SKEW_S, 5 minutes) ahead is dead-lettered `time_in_future`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from incentives_kernel import topics
from incentives_ops.demo import member_registered
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from tests.security.boundary import apis, close, dead_letters, registered_member
from tests.support import eventually, publish


async def test_a_future_time_is_dead_lettered_and_the_member_is_not_frozen(secure_stack: Stack) -> None:
    assert secure_stack.info is not None
    api = apis(secure_stack)
    conn = await asyncpg.connect(_with(secure_stack.info.admin_dsn, database=secure_stack.opt.database))
    try:
        member = await registered_member(secure_stack, api["points"], "nanqu")
        bootstrap = secure_stack.info.bootstrap
        years_ahead = datetime.now(UTC) + timedelta(days=3650)
        frozen = {**member_registered(member, "beiqu"), "type": "member.updated", "time": years_ahead.isoformat()}
        data_ahead = {**member_registered(member, "beiqu"), "type": "member.updated"}
        data_ahead["data"] = {**data_ahead["data"], "registered_at": years_ahead.isoformat()}
        await publish(bootstrap, topics.MEMBERS, member, frozen, data_ahead)
        # Every service reads the members topic: each dead-letters both.
        dead = await dead_letters(secure_stack, topics.MEMBERS, member, count=8)
        assert {h["error.reason"] for h in dead} == {"time_in_future"}
        assert {h["error.service"] for h in dead} == {"reports", "points", "rewards", "notify"}
        assert any("data.registered_at is" in h["error.message"] for h in dead)
        # A later, truthful update still applies everywhere: nothing froze the member.
        await publish(
            bootstrap, topics.MEMBERS, member, {**member_registered(member, "xincheng"), "type": "member.updated"}
        )

        async def moved() -> bool:
            for schema in ("reports", "points", "rewards", "notify"):
                district = await conn.fetchval(f"SELECT district FROM {schema}.members WHERE member_id = $1", member)
                if district != "xincheng":
                    return False
            return True

        await eventually(moved, what="the truthful update applied by every service", timeout=60)
    finally:
        await conn.close()
        await close(api)
