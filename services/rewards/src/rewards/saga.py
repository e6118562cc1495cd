"""Instant redemptions as a saga: eligibility -> reserve one unit -> hold points -> capture -> confirm.

Every step commits with the state that led to it and the message that starts the next (outbox), so a
crash anywhere resumes from the database: a reply that arrives finds the redemption where it was.
Compensation runs the other way: a rejected or expired hold gives the unit back; a cancellation
returns the unit and refunds the captured points. Ids of commands derive from (hold, what, why), so
saying the same thing twice is one command at points, while a new reason is a new command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from incentives_kernel import members, outbox, standing, topics
from incentives_kernel.db import Conn
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.events import (
    CaptureHold,
    EventData,
    OutboundData,
    PlaceHold,
    RedemptionCancelled,
    RedemptionConfirmed,
    RedemptionFulfilled,
    RedemptionRejected,
    RefundHold,
    ReleaseHold,
)
from incentives_kernel.events import RedemptionRejectionReason as Reason

from . import eligibility, vouchers
from . import repository as repo
from .metrics import RewardsMetrics
from .settings import RewardsSettings

SOURCE = "/incentives/rewards"


@dataclass(frozen=True, slots=True)
class Deps:
    metrics: RewardsMetrics
    settings: RewardsSettings


class Conflict(Exception):
    """The request cannot apply to the redemption as it is now (HTTP 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


OnCommit = list[Callable[[], None]]


# ---------------------------------------------------------------- messages


async def publish(conn: Conn, type_: str, member_id: str, subject: str, data: OutboundData, *ids: str) -> None:
    """An event on incentives.rewards.v1; its id derives from what it reports, so a retry is one event."""
    now = datetime.now(UTC)
    await outbox.emit(
        conn,
        topic=topics.REWARDS,
        key=member_id,
        source=SOURCE,
        type=type_,
        subject=subject,
        event_id=derived_event_id(type_, subject, *ids),
        time=now,
        data=data,
    )


async def command(conn: Conn, type_: str, data: EventData, why: str) -> None:
    """A hold command to points (keyed by member, so it is ordered with the member's other commands)."""
    hold_id, member_id = data.hold_id, data.member_id  # type: ignore[attr-defined]
    await outbox.emit(
        conn,
        topic=topics.POINTS_COMMANDS,
        key=member_id,
        source=SOURCE,
        type=type_,
        subject=hold_id,
        event_id=derived_event_id(type_, hold_id, why),
        time=datetime.now(UTC),
        data=data,
    )


async def place_hold(
    conn: Conn, *, hold_id: str, member_id: str, amount: int, reason: str, ttl_s: int, purpose: str, **owner: str
) -> None:
    await repo.insert_hold(conn, hold_id, member_id, amount, purpose, **owner)
    cmd = PlaceHold(hold_id=hold_id, member_id=member_id, amount=amount, reason=reason, ttl_s=ttl_s)
    await command(conn, "points.place_hold", cmd, "place")


async def capture_hold(conn: Conn, hold_id: str, member_id: str) -> None:
    await repo.want_hold(conn, hold_id, "captured")
    await command(conn, "points.capture_hold", CaptureHold(hold_id=hold_id, member_id=member_id), "capture")


async def release_hold(conn: Conn, hold_id: str, member_id: str, why: str) -> None:
    await repo.want_hold(conn, hold_id, "released")
    await command(conn, "points.release_hold", ReleaseHold(hold_id=hold_id, member_id=member_id, reason=why), why)


async def refund_hold(conn: Conn, hold_id: str, member_id: str, why: str) -> None:
    await repo.want_hold(conn, hold_id, "refunded")
    await command(conn, "points.refund_hold", RefundHold(hold_id=hold_id, member_id=member_id, reason=why), "refund")


# ---------------------------------------------------------------- requesting


def business_year(now: datetime, timezone: str) -> int:
    return standing.business_day(now, timezone).year


def terms(reward: asyncpg.Record | None) -> eligibility.RewardTerms | None:
    if reward is None:
        return None
    return eligibility.RewardTerms(**{f: reward[f] for f in eligibility.RewardTerms.__slots__})


async def check(
    conn: Conn,
    reward: asyncpg.Record | None,
    member_id: str,
    kind: str,
    now: datetime,
    deps: Deps,
    redemption_id: str = "",
) -> eligibility.Refusal | None:
    """Eligibility as of `now`; the yearly limit counts the member's other redemptions of the reward."""
    member = await members.get(conn, member_id)
    taken = 0
    if reward is not None and reward["per_member_limit"] is not None:
        year = business_year(now, deps.settings.timezone)
        taken = await repo.taken_this_year(conn, member_id, reward["reward_id"], year, excluding=redemption_id)
    return eligibility.check(
        terms(reward),
        member,
        star_level=await repo.star_level(conn, member_id),
        taken_this_year=taken,
        now=now,
        kind=kind,
    )


async def request(
    conn: Conn, *, redemption_id: str, member_id: str, reward_id: str, via: str, deps: Deps, on_commit: OnCommit
) -> tuple[asyncpg.Record, bool]:
    """Start a redemption, or return the one with this id (processed once, whichever way it came)."""
    existing = await repo.get_redemption(conn, redemption_id)
    if existing is not None:
        return existing, False
    now = datetime.now(UTC)
    reward = await repo.get_reward(conn, reward_id)
    await repo.lock_member(conn, member_id)  # one member's requests in turn: the yearly limit counts the ones before
    row = await repo.insert_redemption(
        conn,
        redemption_id=redemption_id,
        member_id=member_id,
        reward_id=reward_id,
        kind="instant",
        step="requested",
        cost_points=reward["cost_points"] if reward else 0,
        business_year=business_year(now, deps.settings.timezone),
        requested_via=via,
    )
    if row is None:  # the same id arrived the other way at the same moment: that one goes on
        existing = await repo.get_redemption(conn, redemption_id)
        assert existing is not None
        return existing, False
    await repo.record_step(conn, redemption_id, "requested", f"via {via}")
    refusal = await check(conn, reward, member_id, "instant", now, deps, redemption_id)
    if refusal is not None:
        return await reject(conn, row, refusal.reason, refusal.detail, deps, on_commit), True
    assert reward is not None
    if not await repo.reserve_unit(conn, reward_id, redemption_id):
        return await reject(conn, row, Reason.OUT_OF_STOCK, "no units left", deps, on_commit), True
    hold_id = derived_event_id("hold", "redemption", redemption_id)
    ttl = deps.settings.hold_ttl_s
    await place_hold(
        conn,
        hold_id=hold_id,
        member_id=member_id,
        amount=reward["cost_points"],
        reason=f"redemption {redemption_id}: {reward['name']}"[:200],
        ttl_s=ttl,
        purpose="redemption",
        redemption_id=redemption_id,
    )
    await repo.record_step(conn, redemption_id, "stock_reserved")
    await repo.record_step(conn, redemption_id, "hold_requested", f"{reward['cost_points']} points, hold {hold_id}")
    row = await repo.update_redemption(
        conn,
        redemption_id,
        step="hold_requested",
        stock_reserved=True,
        hold_id=hold_id,
        deadline=now + timedelta(seconds=ttl + deps.settings.saga_grace_s),
    )
    return row, True


# ---------------------------------------------------------------- outcomes


async def reject(
    conn: Conn, row: asyncpg.Record, reason: Reason, detail: str, deps: Deps, on_commit: OnCommit
) -> asyncpg.Record:
    redemption_id = row["redemption_id"]
    if row["stock_reserved"]:
        await repo.return_unit(conn, row["reward_id"], redemption_id, f"returned: redemption rejected ({reason.value})")
    row = await repo.update_redemption(
        conn,
        redemption_id,
        status="rejected",
        step="done",
        reason=reason.value,
        detail=detail,
        stock_reserved=False,
        decided_at=datetime.now(UTC),
    )
    await repo.record_step(conn, redemption_id, "rejected", f"{reason.value}: {detail}")
    reward = await repo.get_reward(conn, row["reward_id"])
    await publish(
        conn,
        "redemption.rejected",
        row["member_id"],
        redemption_id,
        RedemptionRejected(
            redemption_id=redemption_id,
            member_id=row["member_id"],
            reward_id=row["reward_id"],
            reward_name=reward["name"] if reward else None,
            reason=reason,
            detail=detail,
            occurred_at=row["decided_at"],
        ),
    )
    on_commit.append(lambda: deps.metrics.redemptions.labels(f"rejected_{reason.value}").inc())
    return row


async def confirm(conn: Conn, row: asyncpg.Record, deps: Deps, on_commit: OnCommit) -> asyncpg.Record:
    """Points are debited: issue the voucher and say so."""
    redemption_id = row["redemption_id"]
    row = await repo.update_redemption(
        conn,
        redemption_id,
        status="confirmed",
        step="done",
        voucher_code=vouchers.issue(),
        decided_at=datetime.now(UTC),
    )
    await repo.record_step(conn, redemption_id, "confirmed", "points captured, voucher issued")
    reward = await repo.get_reward(conn, row["reward_id"])
    assert reward is not None
    await publish(
        conn,
        "redemption.confirmed",
        row["member_id"],
        redemption_id,
        RedemptionConfirmed(
            redemption_id=redemption_id,
            member_id=row["member_id"],
            reward_id=row["reward_id"],
            reward_name=reward["name"],
            kind=row["kind"],
            cost_points=row["cost_points"],
            voucher_code=row["voucher_code"],
            round_id=row["round_id"],
            occurred_at=row["decided_at"],
        ),
    )
    on_commit.append(lambda: deps.metrics.redemptions.labels("confirmed").inc())
    return row


async def cancel(
    conn: Conn, redemption_id: str, *, by: str, reason: str, deps: Deps, on_commit: OnCommit
) -> asyncpg.Record:
    """Before fulfilment: give the unit back and refund the points (a won place goes to the next in line)."""
    row = await repo.get_redemption(conn, redemption_id, lock=True)
    if row is None:
        raise LookupError(redemption_id)
    if row["status"] == "cancelled":
        return row
    if row["status"] != "confirmed":
        raise Conflict("not_cancellable", f"a {row['status']} redemption cannot be cancelled")
    if row["stock_reserved"]:
        await repo.return_unit(conn, row["reward_id"], redemption_id, f"returned: redemption cancelled by {by}")
    row = await repo.update_redemption(
        conn,
        redemption_id,
        status="cancelled",
        stock_reserved=False,
        cancelled_at=datetime.now(UTC),
        cancelled_by=by,
        cancel_reason=reason,
    )
    await repo.record_step(conn, redemption_id, "cancelled", f"by {by}: {reason}")
    await refund_hold(conn, row["hold_id"], row["member_id"], f"redemption {redemption_id} cancelled")
    reward = await repo.get_reward(conn, row["reward_id"])
    assert reward is not None
    await publish(
        conn,
        "redemption.cancelled",
        row["member_id"],
        redemption_id,
        RedemptionCancelled(
            redemption_id=redemption_id,
            member_id=row["member_id"],
            reward_id=row["reward_id"],
            reward_name=reward["name"],
            points_returned=row["cost_points"],
            cancelled_by=by,
            reason=reason,
            occurred_at=row["cancelled_at"],
        ),
    )
    on_commit.append(lambda: deps.metrics.redemptions.labels("cancelled").inc())
    return row


async def fulfil(conn: Conn, redemption_id: str, *, deps: Deps, on_commit: OnCommit) -> asyncpg.Record:
    row = await repo.get_redemption(conn, redemption_id, lock=True)
    if row is None:
        raise LookupError(redemption_id)
    if row["status"] == "fulfilled":
        return row
    if row["status"] != "confirmed":
        raise Conflict("not_fulfillable", f"a {row['status']} redemption cannot be fulfilled")
    row = await repo.update_redemption(conn, redemption_id, status="fulfilled", fulfilled_at=datetime.now(UTC))
    await repo.record_step(conn, redemption_id, "fulfilled", "handed over")
    reward = await repo.get_reward(conn, row["reward_id"])
    assert reward is not None
    await publish(
        conn,
        "redemption.fulfilled",
        row["member_id"],
        redemption_id,
        RedemptionFulfilled(
            redemption_id=redemption_id,
            member_id=row["member_id"],
            reward_id=row["reward_id"],
            reward_name=reward["name"],
            occurred_at=row["fulfilled_at"],
        ),
    )
    on_commit.append(lambda: deps.metrics.redemptions.labels("fulfilled").inc())
    return row


# ---------------------------------------------------------------- what points answered


async def on_hold(
    conn: Conn, hold: asyncpg.Record, said: str, detail: str | None, deps: Deps, on_commit: OnCommit
) -> str:
    """Move a redemption on after points answered its hold (`said`: placed, rejected, captured, ...)."""
    row = await repo.get_redemption(conn, hold["redemption_id"], lock=True)
    assert row is not None
    redemption_id, member_id = row["redemption_id"], row["member_id"]
    waiting = row["status"] == "pending"
    await repo.record_step(conn, redemption_id, f"hold_{said}", detail)
    if said == "placed":
        if waiting and row["step"] == "hold_requested":
            await capture_hold(conn, hold["hold_id"], member_id)
            await repo.update_redemption(conn, redemption_id, step="capture_requested")
            return "capture requested"
        if hold["wanted"] == "pending":  # given up meanwhile (timed out): the points go back
            await release_hold(conn, hold["hold_id"], member_id, "redemption gave up waiting")
            return "late hold released"
    elif said == "captured":
        if waiting:
            await confirm(conn, row, deps, on_commit)
            return "confirmed"
        if hold["wanted"] != "refunded":  # never expected: a capture for a redemption not waiting; pay back
            await refund_hold(conn, hold["hold_id"], member_id, "capture after the redemption ended")
            return "unexpected capture refunded"
    elif said == "rejected" and waiting:
        reason = Reason.NOT_ELIGIBLE if detail == "member_deactivated" else Reason.INSUFFICIENT_POINTS
        await reject(conn, row, reason, f"points refused the hold: {detail}", deps, on_commit)
        return "rejected"
    elif said in ("expired", "refused") and waiting:
        await reject(conn, row, Reason.TIMED_OUT, f"the points hold {said}: {detail}", deps, on_commit)
        return "timed out"
    return "recorded"


async def give_up_overdue(conn: Conn, deps: Deps, batch: int = 200) -> int:
    """Reject redemptions whose hold points never answered (points down for longer than the hold lives)."""
    on_commit: OnCommit = []
    async with conn.transaction():
        due = await repo.overdue_redemptions(conn, batch)
        for row in due:
            detail = "points did not answer the hold in time"
            await reject(conn, row, Reason.TIMED_OUT, detail, deps, on_commit)
            await release_hold(conn, row["hold_id"], row["member_id"], "redemption timed out")
    for done in on_commit:
        done()
    return len(due)
