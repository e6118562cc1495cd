"""Star levels and leaderboard totals, kept in step with the ledger in the same transaction.

A level is decided from points earned in the trailing 365 days (credits less reversals, never the
balance) and announced with member.level_changed when it moves, also when points age out of the
window (an hourly job re-checks the members whose oldest points just left it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from incentives_kernel import standing
from incentives_kernel.db import Conn
from incentives_kernel.events import MemberLevelChanged
from incentives_kernel.outcome import UnitOfWork
from incentives_kernel.uow import Work

from . import policy
from . import repository as repo


def today(timezone: str) -> date:
    return standing.business_day(datetime.now(UTC), timezone)


async def record(
    uow: UnitOfWork,
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
    await repo.add_earned_points(uow.conn, member_id, district, day, delta, policy.period_starts(day))
    return await refresh(uow, member_id, cause=cause, cause_id=cause_id, timezone=timezone, rules=rules)


async def earned_365d(conn: Conn, member_id: str, timezone: str) -> int:
    return await repo.earned_in_window(conn, member_id, standing.window_start(today(timezone)))


async def refresh(
    uow: UnitOfWork,
    member_id: str,
    *,
    cause: str,
    cause_id: str,
    timezone: str,
    rules: policy.Policy = policy.DEFAULT,
) -> bool:
    earned = await earned_365d(uow.conn, member_id, timezone)
    level = rules.star_level(earned)
    before = await repo.announced_level(uow.conn, member_id)
    if level == before:
        return False
    await repo.set_level(uow.conn, member_id, level, earned)
    announce_move(uow, member_id, before, level, earned, cause=cause, cause_id=cause_id)
    return True


def announce_move(
    uow: UnitOfWork, member_id: str, before: int, level: int, earned: int, *, cause: str, cause_id: str
) -> None:
    """Say the member's level moved; the id derives from what moved it, so a redo announces it once."""
    now = datetime.now(UTC)
    data = MemberLevelChanged(
        member_id=member_id, from_level=before, to_level=level, earned_365d=earned, cause=cause, occurred_at=now
    )
    uow.emit("member.level_changed", member_id, member_id, data, id_from=(member_id, cause_id, str(level)), time=now)


async def age(work: Work, timezone: str, rules: policy.Policy = policy.DEFAULT) -> int:
    """Re-check the levels of members whose points just left the 365-day window, each in its own
    transaction; returns how many moved."""
    day = today(timezone)
    async with work() as uow:
        members = await repo.members_leaving_window(uow.conn, standing.window_start(day), slack_days=7)
    moved = 0
    for member_id in members:
        async with work() as uow:
            moved += await refresh(
                uow, member_id, cause="aged_out", cause_id=f"aging:{day}", timezone=timezone, rules=rules
            )
    return moved
