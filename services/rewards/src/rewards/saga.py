"""Instant redemptions as a saga: eligibility -> reserve one unit -> hold points -> capture -> confirm.

Every step commits with the state that led to it and the message that starts the next (outbox), so a
crash anywhere resumes from the database: a reply that arrives finds the redemption where it was.
Compensation runs the other way: a rejected or expired hold gives the unit back; a cancellation
returns the unit and refunds the captured points. Ids of commands derive from (hold, what, why), so
saying the same thing twice is one command at points, while a new reason is a new command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from incentives_kernel import members, standing
from incentives_kernel.db import Conn, Row
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.errors import Conflict, NotFound
from incentives_kernel.events import (
    CaptureHold,
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
from incentives_kernel.outcome import UnitOfWork
from incentives_kernel.uow import Work

from . import eligibility, lifecycle, vouchers
from . import repository as repo
from .lifecycle import HoldStatus, RedemptionNext, RedemptionStatus, Said, Step
from .metrics import RewardsMetrics
from .settings import RewardsSettings


@dataclass(frozen=True, slots=True)
class Deps:
    metrics: RewardsMetrics
    settings: RewardsSettings


# ---------------------------------------------------------------- hold commands to points
# Each is keyed by member (ordered with the member's other commands); its id derives from (hold,
# what, why), so saying the same thing twice is one command at points, while a new reason is a new one.


async def place_hold(
    uow: UnitOfWork, *, hold_id: str, member_id: str, amount: int, reason: str, ttl_s: int, purpose: str, **owner: str
) -> None:
    await repo.insert_hold(uow.conn, hold_id, member_id, amount, purpose, **owner)
    cmd = PlaceHold(hold_id=hold_id, member_id=member_id, amount=amount, reason=reason, ttl_s=ttl_s)
    uow.emit("points.place_hold", member_id, hold_id, cmd, id_from=(hold_id, "place"))


async def capture_hold(uow: UnitOfWork, hold_id: str, member_id: str) -> None:
    await repo.want_hold(uow.conn, hold_id, HoldStatus.CAPTURED)
    cmd = CaptureHold(hold_id=hold_id, member_id=member_id)
    uow.emit("points.capture_hold", member_id, hold_id, cmd, id_from=(hold_id, "capture"))


async def release_hold(uow: UnitOfWork, hold_id: str, member_id: str, why: str) -> None:
    await repo.want_hold(uow.conn, hold_id, HoldStatus.RELEASED)
    cmd = ReleaseHold(hold_id=hold_id, member_id=member_id, reason=why)
    uow.emit("points.release_hold", member_id, hold_id, cmd, id_from=(hold_id, why))


async def refund_hold(uow: UnitOfWork, hold_id: str, member_id: str, why: str) -> None:
    await repo.want_hold(uow.conn, hold_id, HoldStatus.REFUNDED)
    cmd = RefundHold(hold_id=hold_id, member_id=member_id, reason=why)
    uow.emit("points.refund_hold", member_id, hold_id, cmd, id_from=(hold_id, "refund"))


# ---------------------------------------------------------------- requesting


def business_year(now: datetime, timezone: str) -> int:
    return standing.business_day(now, timezone).year


def terms(reward: Row | None) -> eligibility.RewardTerms | None:
    if reward is None:
        return None
    return eligibility.RewardTerms(**{f: reward[f] for f in eligibility.RewardTerms.__slots__})


async def check(
    conn: Conn,
    reward: Row | None,
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


class Asked(Protocol):
    """A request for a redemption, as the event (redemption.requested) or the HTTP body has it."""

    @property
    def redemption_id(self) -> str: ...
    @property
    def member_id(self) -> str: ...
    @property
    def reward_id(self) -> str: ...


async def request(uow: UnitOfWork, asked: Asked, *, via: str, deps: Deps) -> tuple[Row, bool]:
    """Start a redemption, or return the one with this id (processed once, whichever way it came).

    One read decides most requests: a refusal (not eligible, or no unit left as of that read) is
    stored already decided, steps included, in one more statement; only a request that may get a unit
    inserts itself and takes the unit in one conditional statement, then asks points for the hold.
    """
    conn = uow.conn
    redemption_id, member_id, reward_id = asked.redemption_id, asked.member_id, asked.reward_id
    ctx = await repo.request_context(conn, redemption_id, reward_id, member_id)
    if ctx["seen"]:
        return await _existing(conn, redemption_id), False
    now = datetime.now(UTC)
    reward = ctx if ctx["reward_id"] is not None else None
    member = (
        members.Member(member_id, ctx["member_district"], ctx["member_locale"], ctx["member_active"])
        if ctx["member_known"]
        else None
    )
    year = business_year(now, deps.settings.timezone)
    taken = 0
    if reward is not None and reward["per_member_limit"] is not None:
        # One member's requests for a limited reward in turn: the yearly limit counts the ones before.
        await repo.lock_member(conn, member_id)
        taken = await repo.taken_this_year(conn, member_id, reward_id, year, excluding=redemption_id)
    refusal = eligibility.check(
        terms(reward), member, star_level=ctx["star_level"], taken_this_year=taken, now=now, kind="instant"
    )
    if refusal is None and ctx["stock_available"] <= 0:
        refusal = eligibility.Refusal(Reason.OUT_OF_STOCK, "no units left")
    values: dict[str, Any] = {
        "redemption_id": redemption_id,
        "member_id": member_id,
        "reward_id": reward_id,
        "kind": "instant",
        "cost_points": reward["cost_points"] if reward else 0,
        "business_year": year,
        "requested_via": via,
    }
    requested = (Step.REQUESTED.value, f"via {via}")
    if refusal is not None:
        return await _refuse(uow, values, requested, refusal, reward, now, deps)
    assert reward is not None
    row, reserved = await repo.insert_redemption_reserving(conn, values | {"step": Step.REQUESTED}, [requested])
    if row is None:  # the same id arrived the other way at the same moment: that one goes on
        return await _existing(conn, redemption_id), False
    if not reserved:  # the last unit went between the read and the update
        return await reject(uow, row, Reason.OUT_OF_STOCK, "no units left", deps), True
    hold_id = derived_event_id("hold", "redemption", redemption_id)
    ttl = deps.settings.hold_ttl_s
    await place_hold(
        uow,
        hold_id=hold_id,
        member_id=member_id,
        amount=reward["cost_points"],
        reason=f"redemption {redemption_id}: {reward['name']}"[:200],
        ttl_s=ttl,
        purpose="redemption",
        redemption_id=redemption_id,
    )
    await repo.record_step(conn, redemption_id, "stock_reserved")
    await repo.record_step(conn, redemption_id, Step.HOLD_REQUESTED, f"{reward['cost_points']} points, hold {hold_id}")
    row = await repo.update_redemption(
        conn,
        redemption_id,
        step=Step.HOLD_REQUESTED,
        stock_reserved=True,
        hold_id=hold_id,
        deadline=now + timedelta(seconds=ttl + deps.settings.saga_grace_s),
    )
    return row, True


async def _existing(conn: Conn, redemption_id: str) -> Row:
    existing = await repo.get_redemption(conn, redemption_id)
    assert existing is not None
    return existing


async def _refuse(
    uow: UnitOfWork,
    values: dict[str, Any],
    requested: tuple[str, str],
    refusal: eligibility.Refusal,
    reward: Row | None,
    now: datetime,
    deps: Deps,
) -> tuple[Row, bool]:
    """A request refused before anything was taken: stored decided, with the steps and the event `reject` gives."""
    reason, detail = refusal.reason, refusal.detail
    decided = {"status": RedemptionStatus.REJECTED.value, "step": Step.DONE.value, "reason": reason.value}
    row = await repo.insert_decided_redemption(
        uow.conn,
        values | decided | {"detail": detail, "decided_at": now},
        [requested, (RedemptionStatus.REJECTED.value, f"{reason.value}: {detail}")],
    )
    if row is None:  # the same id arrived the other way at the same moment: that one goes on
        return await _existing(uow.conn, values["redemption_id"]), False
    said = {"redemption_id": row["redemption_id"], "member_id": row["member_id"], "reward_id": row["reward_id"]}
    name = reward["name"] if reward else None
    data = RedemptionRejected(**said, reward_name=name, reason=reason, detail=detail, occurred_at=row["decided_at"])
    announce(uow, "redemption.rejected", row, data)
    _count(uow, deps, f"rejected_{reason.value}")
    return row, True


# ---------------------------------------------------------------- outcomes


async def reject(uow: UnitOfWork, row: Row, reason: Reason, detail: str, deps: Deps) -> Row:
    if row["stock_reserved"]:
        why = f"returned: redemption rejected ({reason.value})"
        await repo.return_unit(uow.conn, row["reward_id"], row["redemption_id"], why)
    row, said, reward = await _move(
        uow,
        row["redemption_id"],
        RedemptionStatus.REJECTED,
        f"{reason.value}: {detail}",
        step=Step.DONE,
        reason=reason.value,
        detail=detail,
        stock_reserved=False,
        decided_at=datetime.now(UTC),
    )
    name = reward["name"] if reward else None
    data = RedemptionRejected(**said, reward_name=name, reason=reason, detail=detail, occurred_at=row["decided_at"])
    announce(uow, "redemption.rejected", row, data)
    _count(uow, deps, f"rejected_{reason.value}")
    return row


async def confirm(uow: UnitOfWork, row: Row, deps: Deps) -> Row:
    """Points are debited: issue the voucher (valid for the reward's `valid_days`) and say so."""
    now = datetime.now(UTC)
    offered = await repo.get_reward(uow.conn, row["reward_id"])
    valid_days = offered["valid_days"] if offered else 90
    row, said, reward = await _move(
        uow,
        row["redemption_id"],
        RedemptionStatus.CONFIRMED,
        "points captured, voucher issued",
        step=Step.DONE,
        voucher_code=vouchers.issue(),
        decided_at=now,
        expires_at=now + timedelta(days=valid_days),
    )
    assert reward is not None
    data = RedemptionConfirmed(
        **said,
        reward_name=reward["name"],
        kind=row["kind"],
        cost_points=row["cost_points"],
        voucher_code=row["voucher_code"],
        round_id=row["round_id"],
        occurred_at=row["decided_at"],
    )
    announce(uow, "redemption.confirmed", row, data)
    _count(uow, deps, RedemptionStatus.CONFIRMED)
    return row


async def cancel(
    uow: UnitOfWork, redemption_id: str, *, by: str, reason: str, deps: Deps, announce_it: bool = True
) -> Row:
    """Before fulfilment: give the unit back and refund the points (a won place goes to the next in line).
    `announce_it=False`: the caller says it another way (a disqualification is its own event)."""
    row = await _moving(uow, redemption_id, RedemptionStatus.CANCELLED)
    if row["status"] == RedemptionStatus.CANCELLED:
        return row
    if row["stock_reserved"]:
        await repo.return_unit(uow.conn, row["reward_id"], redemption_id, f"returned: redemption cancelled by {by}")
    row, said, reward = await _move(
        uow,
        redemption_id,
        RedemptionStatus.CANCELLED,
        f"by {by}: {reason}",
        stock_reserved=False,
        cancelled_at=datetime.now(UTC),
        cancelled_by=by,
        cancel_reason=reason,
    )
    if row["hold_id"] is not None:  # an award paid nothing
        await refund_hold(uow, row["hold_id"], row["member_id"], f"redemption {redemption_id} cancelled")
    _count(uow, deps, RedemptionStatus.CANCELLED)
    if not announce_it:
        return row
    assert reward is not None
    data = RedemptionCancelled(
        **said,
        reward_name=reward["name"],
        points_returned=row["cost_points"],
        cancelled_by=by,
        reason=reason,
        occurred_at=row["cancelled_at"],
    )
    announce(uow, "redemption.cancelled", row, data)
    return row


async def fulfil(uow: UnitOfWork, redemption_id: str, *, deps: Deps, by: str | None = None) -> Row:
    """Handed over (an operator says so, or a provider redeemed the voucher): `by` is the provider's id,
    or the operator as audit trails name one (`operator:<name>`)."""
    row = await _moving(uow, redemption_id, RedemptionStatus.FULFILLED)
    if row["status"] == RedemptionStatus.FULFILLED:
        return row
    note = (
        (f"handed over by {by}" if by.startswith("operator:") else f"handed over by provider {by}")
        if by
        else "handed over"
    )
    row, said, reward = await _move(
        uow, redemption_id, RedemptionStatus.FULFILLED, note, fulfilled_at=datetime.now(UTC), redeemed_by=by
    )
    assert reward is not None
    data = RedemptionFulfilled(**said, reward_name=reward["name"], occurred_at=row["fulfilled_at"])
    announce(uow, "redemption.fulfilled", row, data)
    _count(uow, deps, RedemptionStatus.FULFILLED)
    return row


async def _move(
    uow: UnitOfWork, redemption_id: str, status: RedemptionStatus, note: str, **changes: Any
) -> tuple[Row, dict[str, Any], Row | None]:
    """Move a redemption to `status` and record the step; the row after, what every announcement of it
    says (its ids) and its reward."""
    row = await repo.update_redemption(uow.conn, redemption_id, status=status, **changes)
    await repo.record_step(uow.conn, redemption_id, status, note)
    said = {"redemption_id": redemption_id, "member_id": row["member_id"], "reward_id": row["reward_id"]}
    return row, said, await repo.get_reward(uow.conn, row["reward_id"])


def _count(uow: UnitOfWork, deps: Deps, outcome: str) -> None:
    uow.after_commit(lambda: deps.metrics.redemptions.labels(outcome).inc())


async def _moving(uow: UnitOfWork, redemption_id: str, to: RedemptionStatus) -> Row:
    """The redemption, locked, if it may move `to` (or is there already); else `NotFound` or `Conflict`."""
    row = await repo.get_redemption(uow.conn, redemption_id, lock=True)
    if row is None:
        raise NotFound(f"no redemption {redemption_id}")
    try:
        lifecycle.redemption_moves(row["status"], to)
    except lifecycle.IllegalMove as exc:
        raise Conflict(exc.code, str(exc)) from None
    return row


def announce(uow: UnitOfWork, type_: str, row: Row, data: OutboundData) -> None:
    """Say what became of a redemption; the id derives from (type, redemption), so a redo says it once."""
    uow.emit(type_, row["member_id"], row["redemption_id"], data, id_from=(row["redemption_id"],))


# ---------------------------------------------------------------- what points answered


async def on_hold(uow: UnitOfWork, hold: Row, said: Said, detail: str | None, deps: Deps) -> str:
    """Move a redemption on after points answered its hold (`lifecycle.redemption_after_hold` decides)."""
    conn = uow.conn
    row = await repo.get_redemption(conn, hold["redemption_id"], lock=True)
    assert row is not None
    redemption_id, member_id = row["redemption_id"], row["member_id"]
    await repo.record_step(conn, redemption_id, f"hold_{said}", detail)
    then = lifecycle.redemption_after_hold(said, status=row["status"], step=row["step"], wanted=hold["wanted"])
    match then:
        case RedemptionNext.CAPTURE:
            await capture_hold(uow, hold["hold_id"], member_id)
            await repo.update_redemption(conn, redemption_id, step=Step.CAPTURE_REQUESTED)
        case RedemptionNext.RELEASE_LATE_HOLD:
            await release_hold(uow, hold["hold_id"], member_id, "redemption gave up waiting")
        case RedemptionNext.CONFIRM:
            await confirm(uow, row, deps)
        case RedemptionNext.REFUND_UNEXPECTED_CAPTURE:
            await refund_hold(uow, hold["hold_id"], member_id, "capture after the redemption ended")
        case RedemptionNext.REJECT:
            reason = Reason.NOT_ELIGIBLE if detail == "member_deactivated" else Reason.INSUFFICIENT_POINTS
            await reject(uow, row, reason, f"points refused the hold: {detail}", deps)
        case RedemptionNext.TIME_OUT:
            await reject(uow, row, Reason.TIMED_OUT, f"the points hold {said}: {detail}", deps)
    return then.value


async def expire(uow: UnitOfWork, row: Row, deps: Deps) -> Row:
    """A voucher not redeemed by `expires_at`: the redemption is `expired`; the points come back only if the
    reward says so (`refund_on_expiry`); the unit is not put back (a slot that passed is gone)."""
    reward = await repo.get_reward(uow.conn, row["reward_id"])
    refund = bool(reward and reward["refund_on_expiry"]) and row["hold_id"] is not None
    row, said, reward = await _move(
        uow,
        row["redemption_id"],
        RedemptionStatus.EXPIRED,
        "voucher expired" + (": points refunded" if refund else ": points not refunded"),
        expired_at=datetime.now(UTC),
    )
    if refund:
        await refund_hold(uow, row["hold_id"], row["member_id"], f"redemption {row['redemption_id']} expired")
    assert reward is not None
    data = RedemptionCancelled(
        **said,
        reward_name=reward["name"],
        points_returned=row["cost_points"] if refund else 0,
        cancelled_by="expiry",
        reason="the voucher expired unredeemed",
        occurred_at=row["expired_at"],
    )
    announce(uow, "redemption.cancelled", row, data)
    _count(uow, deps, RedemptionStatus.EXPIRED)
    return row


async def expire_due(work: Work, deps: Deps, batch: int = 200) -> int:
    async with work() as uow:
        due = await repo.expired_vouchers(uow.conn, batch)
        for row in due:
            await expire(uow, row, deps)
    return len(due)


async def give_up_overdue(work: Work, deps: Deps, batch: int = 200) -> int:
    """Reject redemptions whose hold points never answered (points down for longer than the hold lives)."""
    async with work() as uow:
        due = await repo.overdue_redemptions(uow.conn, batch)
        for row in due:
            detail = "points did not answer the hold in time"
            await reject(uow, row, Reason.TIMED_OUT, detail, deps)
            await release_hold(uow, row["hold_id"], row["member_id"], "redemption timed out")
    return len(due)
