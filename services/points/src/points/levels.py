"""Star levels and leaderboard totals, kept in step with the ledger in the same transaction.

A level is decided from points earned in the trailing 365 days (credits less reversals, never the
balance) and announced with member.level_changed when it moves, also when points age out of the
window (an hourly job re-checks the members whose oldest points just left it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Entry:
    """Points earned (delta < 0: taken back by a reversal) by a member on a business day."""

    member_id: str
    district: str
    day: date
    delta: int


@dataclass(frozen=True, slots=True)
class Standing:
    """After a run of entries is counted: each member's 365-day figure, the level last announced
    (its row locked until the transaction ends), and the window's first day."""

    earned: dict[str, int]
    announced: dict[str, int]
    first_day: date


@dataclass(frozen=True, slots=True)
class LevelMove:
    before: int
    level: int
    earned: int  # the 365-day figure that decides it


async def count(uow: UnitOfWork, entries: Sequence[Entry], *, timezone: str) -> Standing:
    """Add a run's entries to the per-day and per-period totals (one statement each); then read where
    each member stands after the run, locking the announced levels (so two transactions cannot
    announce the same move)."""
    by_day: dict[tuple[str, date], int] = {}
    by_period: dict[tuple[str, date, str], tuple[str, int]] = {}
    for e in entries:
        by_day[(e.member_id, e.day)] = by_day.get((e.member_id, e.day), 0) + e.delta
        for period, start in policy.period_starts(e.day).items():
            district, total = by_period.get((period, start, e.member_id), (e.district, 0))
            by_period[(period, start, e.member_id)] = (district, total + e.delta)
    conn = uow.conn
    await repo.add_earned_points(conn, by_day, by_period)
    member_ids = sorted({e.member_id for e in entries})
    first_day = standing.window_start(today(timezone))
    earned = await repo.earned_in_window_many(conn, member_ids, first_day)
    announced = await repo.lock_announced_levels(conn, member_ids)
    return Standing(earned, announced, first_day)


def climb(entries: Sequence[Entry], after: Standing, rules: policy.Policy) -> list[LevelMove | None]:
    """Each entry's level move, in order (None: the level stays), as counting the entries one after
    another would announce them (pure): a member's 365-day figure right after an entry is the figure
    after the run less what that member's later entries in the window added."""
    later = dict.fromkeys(after.earned, 0)
    for e in entries:
        if e.day >= after.first_day:
            later[e.member_id] += e.delta
    level_of = dict(after.announced)
    moves: list[LevelMove | None] = []
    for e in entries:
        if e.day >= after.first_day:
            later[e.member_id] -= e.delta
        earned = after.earned[e.member_id] - later[e.member_id]
        level = rules.star_level(earned)
        if level == level_of[e.member_id]:
            moves.append(None)
            continue
        moves.append(LevelMove(level_of[e.member_id], level, earned))
        level_of[e.member_id] = level
    return moves


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
