"""Star levels and leaderboard totals, kept in step with the ledger in the same transaction.

A level is decided from points earned in the trailing 365 days (credits less reversals, never the
balance) and announced with member.level_changed when it moves, also when points age out of the
window (an hourly sweep re-checks the members whose oldest points just left it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime

import asyncpg
import structlog
from incentives_kernel import outbox, standing, topics
from incentives_kernel.db import Conn
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.events import MemberLevelChanged

from . import policy
from . import repository as repo

log = structlog.get_logger(__name__)

SOURCE = "/incentives/points"


def today(timezone: str) -> date:
    return standing.business_day(datetime.now(UTC), timezone)


async def record(
    conn: Conn,
    *,
    member_id: str,
    district: str,
    day: date,
    delta: int,
    cause: str,
    cause_id: str,
    timezone: str,
    rules: policy.Policy = policy.DEFAULT,
) -> bool:
    """Count earned points (delta < 0 for a reversal) on `day`; announce a level change. True if it moved."""
    await repo.add_earned_points(conn, member_id, district, day, delta, policy.period_starts(day))
    return await refresh(conn, member_id, cause=cause, cause_id=cause_id, timezone=timezone, rules=rules)


async def earned_365d(conn: Conn, member_id: str, timezone: str) -> int:
    return await repo.earned_in_window(conn, member_id, standing.window_start(today(timezone)))


async def refresh(
    conn: Conn, member_id: str, *, cause: str, cause_id: str, timezone: str, rules: policy.Policy = policy.DEFAULT
) -> bool:
    earned = await earned_365d(conn, member_id, timezone)
    level = rules.star_level(earned)
    before = await repo.announced_level(conn, member_id)
    if level == before:
        return False
    await repo.set_level(conn, member_id, level, earned)
    await announce_move(conn, member_id, before, level, earned, cause=cause, cause_id=cause_id)
    return True


async def announce_move(
    conn: Conn, member_id: str, before: int, level: int, earned: int, *, cause: str, cause_id: str
) -> None:
    """Publish member.level_changed; its id derives from what moved it, so a redo announces it once."""
    now = datetime.now(UTC)
    event_id = derived_event_id("member.level_changed", member_id, cause_id, str(level))
    await outbox.emit(
        conn,
        topic=topics.POINTS,
        key=member_id,
        source=SOURCE,
        type="member.level_changed",
        subject=member_id,
        event_id=event_id,
        time=now,
        data=MemberLevelChanged(
            member_id=member_id, from_level=before, to_level=level, earned_365d=earned, cause=cause, occurred_at=now
        ),
    )


async def sweep_aging(
    pool: Callable[[], asyncpg.Pool],
    timezone: str,
    every_s: float,
    on_commit: Callable[[], None],
    rules: policy.Policy = policy.DEFAULT,
) -> None:
    """Forever: re-check levels of members whose points just left the 365-day window."""
    while True:
        try:
            day = today(timezone)
            async with pool().acquire() as conn:
                members = await repo.members_leaving_window(conn, standing.window_start(day), slack_days=7)
                moved = 0
                for member_id in members:
                    async with conn.transaction():
                        moved += await refresh(
                            conn, member_id, cause="aged_out", cause_id=f"aging:{day}", timezone=timezone, rules=rules
                        )
            if moved:
                on_commit()
                log.info("levels aged", checked=len(members), moved=moved)
        except Exception as exc:  # the next round retries
            log.warning("level aging sweep failed", error=type(exc).__name__)
        await asyncio.sleep(every_s)
