"""Holds: reserve points, then capture (debit for good) or release; expiry is run here, never left to callers.

Commands arrive on incentives.points.commands.v1; each outcome is answered on
incentives.points.replies.v1 with an event id derived from (hold, state), so announcing a state
again (a repeated command, a crash between commit and publish) is deduplicated by the caller's inbox.
A hold can never take the available balance below zero; only a reversal can (contract).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incentives_kernel import members
from incentives_kernel.db import Row
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.events import CaptureHold, HoldReply, PlaceHold, RefundHold, ReleaseHold
from incentives_kernel.outcome import Outcome, ParsedEvent, UnitOfWork, applied, ignored
from incentives_kernel.uow import Work

from . import repository as repo
from .ledger import member_account, redemption_account
from .transfers import Posting, post
from .usecases import Deps

REPLY_TYPES = {
    "pending": "points.hold_placed",
    "captured": "points.hold_captured",
    "released": "points.hold_released",
    "expired": "points.hold_expired",
    "refunded": "points.hold_refunded",
    "rejected": "points.hold_rejected",
    "refused": "points.hold_command_refused",
}


async def place_hold(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    cmd = event.data
    assert isinstance(cmd, PlaceHold)
    conn = uow.conn
    existing = await repo.get_hold(conn, cmd.hold_id)
    if existing is not None:
        _answer_again(uow, existing)
        return ignored(f"hold {cmd.hold_id} exists already ({existing['status']}): its state was announced again")
    member = await members.require(conn, cmd.member_id)
    if not member.active:
        return _reject(uow, cmd, "member_deactivated", None, deps)
    balance = await repo.lock_balance(conn, cmd.member_id)
    if cmd.amount > balance.available:
        return _reject(uow, cmd, "insufficient_points", balance.available, deps)
    expires_at = datetime.now(UTC) + timedelta(seconds=cmd.ttl_s)
    await repo.insert_hold(
        conn,
        hold_id=cmd.hold_id,
        member_id=cmd.member_id,
        amount=cmd.amount,
        reason=cmd.reason,
        expires_at=expires_at,
        source=event.envelope.source,
        source_event_id=event.envelope.id,
    )
    _answer(
        uow,
        "pending",
        cmd.hold_id,
        cmd.member_id,
        cmd.amount,
        available=balance.available - cmd.amount,
        expires_at=expires_at,
    )
    uow.after_commit(lambda: deps.metrics.holds.labels("placed").inc())
    return applied()


async def capture_hold(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    cmd = event.data
    assert isinstance(cmd, CaptureHold)
    conn = uow.conn
    hold = await repo.get_hold(conn, cmd.hold_id, lock=True)
    if hold is None or hold["member_id"] != cmd.member_id:
        return _refuse(uow, cmd.hold_id, cmd.member_id, "unknown_hold")
    if hold["status"] != "pending":
        if hold["status"] == "captured":
            _answer_again(uow, hold)
            return ignored("captured already: announced again")
        return _refuse(uow, cmd.hold_id, cmd.member_id, "hold_not_pending", hold)
    if hold["expires_at"] <= datetime.now(UTC):  # the job has not run yet: it is expired all the same
        await _expire(uow, hold)
        expired = await repo.get_hold(conn, cmd.hold_id)  # the refusal says what the hold is now: expired
        return _refuse(uow, cmd.hold_id, cmd.member_id, "expired", expired)
    member = await members.require(conn, cmd.member_id)
    transfer_id = derived_event_id("capture", cmd.hold_id)
    capture = repo.NewTransfer(
        transfer_id=transfer_id,
        debit_account=member_account(cmd.member_id),
        credit_account=redemption_account(member.district),
        amount=hold["amount"],
        kind="redemption",
        member_id=cmd.member_id,
        rule_version=deps.policy.version,
        reason=hold["reason"],
        source=event.envelope.source,
        source_event_id=event.envelope.id,
        occurred_at=event.envelope.time,
        ref=cmd.hold_id,
    )
    [after] = await post(uow, [Posting(capture, from_hold=True)], rules=deps.policy, timezone=deps.timezone)
    assert after is not None  # the capture's id derives from the hold, and the hold was pending
    await repo.close_hold(conn, cmd.hold_id, "captured", "captured", transfer_id=transfer_id)
    _answer(
        uow, "captured", cmd.hold_id, cmd.member_id, hold["amount"], available=after.available, transfer_id=transfer_id
    )
    uow.after_commit(lambda: deps.metrics.holds.labels("captured").inc())
    return applied()


async def release_hold(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    cmd = event.data
    assert isinstance(cmd, ReleaseHold)
    hold = await repo.get_hold(uow.conn, cmd.hold_id, lock=True)
    if hold is None or hold["member_id"] != cmd.member_id:
        return _refuse(uow, cmd.hold_id, cmd.member_id, "unknown_hold")
    if hold["status"] != "pending":
        _answer_again(uow, hold)  # released, expired or captured: the caller learns which
        return ignored(f"hold is {hold['status']} already: announced again")
    await repo.close_hold(uow.conn, cmd.hold_id, "released", cmd.reason)
    after = await repo.release_held(uow.conn, cmd.member_id, hold["amount"])
    _answer(uow, "released", cmd.hold_id, cmd.member_id, hold["amount"], reason=cmd.reason, available=after.available)
    uow.after_commit(lambda: deps.metrics.holds.labels("released").inc())
    return applied()


async def refund_hold(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    """Give back a captured hold's points: a compensating transfer from where the capture put them."""
    cmd = event.data
    assert isinstance(cmd, RefundHold)
    conn = uow.conn
    hold = await repo.get_hold(conn, cmd.hold_id, lock=True)
    if hold is None or hold["member_id"] != cmd.member_id:
        return _refuse(uow, cmd.hold_id, cmd.member_id, "unknown_hold")
    if hold["status"] == "refunded":
        _answer_again(uow, hold)
        return ignored("refunded already: announced again")
    if hold["status"] != "captured":
        return _refuse(uow, cmd.hold_id, cmd.member_id, "hold_not_captured", hold)
    capture = await repo.get_transfer(conn, hold["transfer_id"])
    assert capture is not None
    refund_id = derived_event_id("refund", cmd.hold_id)
    refund = repo.NewTransfer(
        transfer_id=refund_id,
        debit_account=capture["credit_account"],
        credit_account=member_account(cmd.member_id),
        amount=hold["amount"],
        kind="refund",
        member_id=cmd.member_id,
        rule_version=deps.policy.version,
        reason=cmd.reason,
        source=event.envelope.source,
        source_event_id=event.envelope.id,
        occurred_at=event.envelope.time,
        ref=cmd.hold_id,
        reverses=hold["transfer_id"],
    )
    [after] = await post(uow, [Posting(refund)], rules=deps.policy, timezone=deps.timezone)
    assert after is not None  # the refund's id derives from the hold, and the hold was captured
    await repo.mark_refunded(conn, cmd.hold_id, cmd.reason, refund_id)
    _answer(
        uow,
        "refunded",
        cmd.hold_id,
        cmd.member_id,
        hold["amount"],
        reason=cmd.reason,
        available=after.available,
        transfer_id=refund_id,
    )
    uow.after_commit(lambda: deps.metrics.holds.labels("refunded").inc())
    return applied()


async def _expire(uow: UnitOfWork, hold: Row) -> None:
    await repo.close_hold(uow.conn, hold["hold_id"], "expired", "expired")
    after = await repo.release_held(uow.conn, hold["member_id"], hold["amount"])
    _answer(
        uow, "expired", hold["hold_id"], hold["member_id"], hold["amount"], reason="expired", available=after.available
    )


async def expire_due(work: Work, deps: Deps, batch: int = 500) -> int:
    """Expire pending holds past their time in one transaction: give the points back, say so.

    A hold is never left pending past its time plus the job's interval (jobs.py)."""
    async with work() as uow:
        due = await repo.expired_holds(uow.conn, batch)
        for hold in due:
            await _expire(uow, hold)
        still_open = await repo.open_holds(uow.conn)
        uow.after_commit(lambda: deps.metrics.holds_open.set(still_open))
        if due:
            uow.after_commit(lambda: deps.metrics.holds.labels("expired").inc(len(due)))
    return len(due)


def _reject(uow: UnitOfWork, cmd: PlaceHold, reason: str, available: int | None, deps: Deps) -> Outcome:
    _answer(uow, "rejected", cmd.hold_id, cmd.member_id, cmd.amount, reason=reason, available=available)
    uow.after_commit(lambda: deps.metrics.holds.labels(f"rejected_{reason}").inc())
    return applied()


def _refuse(uow: UnitOfWork, hold_id: str, member_id: str, reason: str, hold: Row | None = None) -> Outcome:
    _answer(
        uow,
        "refused",
        hold_id,
        member_id,
        hold["amount"] if hold else 0,
        reason=reason,
        status=hold["status"] if hold else "unknown",
    )
    return ignored(f"command on hold {hold_id} refused: {reason}")


def _answer_again(uow: UnitOfWork, hold: Row) -> None:
    """Say a hold's current state again (same event id as the first time: deduplicated by the caller)."""
    status = hold["status"]
    _answer(
        uow,
        status,
        hold["hold_id"],
        hold["member_id"],
        hold["amount"],
        reason=hold["resolution"] if status in ("released", "expired", "refunded") else None,
        expires_at=hold["expires_at"] if status == "pending" else None,
        transfer_id=hold["refund_transfer_id"] if status == "refunded" else hold["transfer_id"],
    )


def _answer(
    uow: UnitOfWork,
    kind: str,
    hold_id: str,
    member_id: str,
    amount: int,
    *,
    reason: str | None = None,
    available: int | None = None,
    expires_at: datetime | None = None,
    transfer_id: str | None = None,
    status: str | None = None,
) -> None:
    type_ = REPLY_TYPES[kind]
    now = datetime.now(UTC)
    reply = HoldReply(
        hold_id=hold_id,
        member_id=member_id,
        amount=amount,
        status=status or kind,
        reason=reason,
        available=available,
        expires_at=expires_at,
        transfer_id=transfer_id,
        occurred_at=now,
    )
    # A refusal may recur for different commands: its id includes the reason, the others the state alone.
    id_from = (hold_id, reason or "") if kind == "refused" else (hold_id,)
    uow.emit(type_, member_id, hold_id, reply, id_from=id_from, time=now)
