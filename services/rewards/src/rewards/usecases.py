"""What the rewards service does with each event and request (handlers and routes call these)."""

from __future__ import annotations

import asyncpg
import structlog
from incentives_kernel.consumer import Outcome, applied, ignored
from incentives_kernel.db import Conn
from incentives_kernel.envelope import ParsedEvent
from incentives_kernel.events import HoldReply, MemberLevelChanged, PointsCredited, PointsReversed, RedemptionRequested

from . import repository as repo
from . import rounds, saga
from .saga import Deps, OnCommit

log = structlog.get_logger(__name__)

# What each reply says happened to the hold (points' reply type -> rewards' word for it).
SAID = {
    "points.hold_placed": "placed",
    "points.hold_rejected": "rejected",
    "points.hold_captured": "captured",
    "points.hold_released": "released",
    "points.hold_expired": "expired",
    "points.hold_refunded": "refunded",
    "points.hold_command_refused": "refused",
}
# The hold's state as points reports it, and which states may follow which (stale replies change nothing).
STATE = {
    "placed": "pending",
    "rejected": "rejected",
    "captured": "captured",
    "released": "released",
    "expired": "expired",
    "refunded": "refunded",
}
NEXT = {
    "requested": {"pending", "rejected", "released"},
    "pending": {"captured", "released", "expired"},
    "captured": {"refunded"},
}


def _done(on_commit: OnCommit) -> Outcome:
    return applied(on_commit=tuple(on_commit))


async def redemption_requested(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, RedemptionRequested)
    on_commit: OnCommit = []
    row, created = await saga.request(
        conn,
        redemption_id=data.redemption_id,
        member_id=data.member_id,
        reward_id=data.reward_id,
        via="kafka",
        deps=deps,
        on_commit=on_commit,
    )
    if not created:
        return ignored(f"redemption {data.redemption_id} exists already ({row['status']})")
    return _done(on_commit)


async def hold_answered(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    reply = event.data
    assert isinstance(reply, HoldReply)
    hold = await repo.get_hold(conn, reply.hold_id)
    if hold is None:
        return ignored("not a hold rewards asked for")
    said = SAID[event.envelope.type]
    detail = reply.reason
    if said != "refused":
        state = STATE[said]
        if state == hold["status"]:
            return ignored(f"hold is {state} already")
        if state not in NEXT.get(hold["status"], set()):
            return ignored(f"stale: hold is {hold['status']}, reply says {state}")
        await repo.hold_said(conn, hold["hold_id"], state, detail)
    on_commit: OnCommit = []
    if hold["purpose"] == "redemption":
        what = await saga.on_hold(conn, hold, said, detail, deps, on_commit)
    else:
        what = await rounds.on_hold(conn, hold, said, detail, deps, on_commit)
    log.debug("hold answered", hold_id=hold["hold_id"], said=said, then=what)
    return _done(on_commit)


async def cancel(
    conn: Conn, redemption_id: str, *, by: str, reason: str, deps: Deps
) -> tuple[asyncpg.Record, OnCommit]:
    on_commit: OnCommit = []
    before = await repo.get_redemption(conn, redemption_id)
    row = await saga.cancel(conn, redemption_id, by=by, reason=reason, deps=deps, on_commit=on_commit)
    if row["kind"] == "allocation" and before is not None and before["status"] != "cancelled":
        await rounds.winner_cancelled(conn, row, deps, on_commit)
    return row, on_commit


# ---------------------------------------------------------------- standing, from points' own events


async def points_earned(conn: Conn, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, PointsCredited | PointsReversed)
    if data.earned_day is None:
        return ignored(f"{data.kind} points do not count as earned")
    delta = data.amount if isinstance(data, PointsCredited) else -data.amount
    await repo.add_earned(conn, data.member_id, data.earned_day, delta)
    return applied()


async def level_changed(conn: Conn, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, MemberLevelChanged)
    if not await repo.set_star_level(conn, data.member_id, data.to_level, data.occurred_at):
        return ignored("stale: a later level is known")
    return applied()
