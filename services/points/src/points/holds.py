"""Holds: reserve points, then capture (debit for good) or release; expiry is run here, never left to callers.

Commands arrive on incentives.points.commands.v1; each outcome is answered on
incentives.points.replies.v1 with an event id derived from (hold, state), so announcing a state
again (a repeated command, a crash between commit and publish) is deduplicated by the caller's inbox.
A hold can never take the available balance below zero; only a reversal can (contract).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from incentives_kernel import members, outbox, topics
from incentives_kernel.consumer import Outcome, applied, ignored
from incentives_kernel.db import Conn
from incentives_kernel.envelope import ParsedEvent, derived_event_id
from incentives_kernel.events import (
    CaptureHold,
    HoldReply,
    PlaceHold,
    PointsCredited,
    PointsDebited,
    RefundHold,
    ReleaseHold,
    SourceRef,
)

from . import repository as repo
from . import usecases
from .ledger import member_account, redemption_account
from .usecases import Deps

log = structlog.get_logger(__name__)

SOURCE = "/incentives/points"
REPLY_TYPES = {
    "pending": "points.hold_placed",
    "captured": "points.hold_captured",
    "released": "points.hold_released",
    "expired": "points.hold_expired",
    "refunded": "points.hold_refunded",
    "rejected": "points.hold_rejected",
    "refused": "points.hold_command_refused",
}


async def place_hold(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    cmd = event.data
    assert isinstance(cmd, PlaceHold)
    existing = await repo.get_hold(conn, cmd.hold_id)
    if existing is not None:
        await _announce(conn, existing)
        return ignored(f"hold {cmd.hold_id} exists already ({existing['status']}): its state was announced again")
    member = await members.require(conn, cmd.member_id)
    if not member.active:
        return await _reject(conn, cmd, "member_deactivated", None, deps)
    balance = await repo.lock_balance(conn, cmd.member_id)
    if cmd.amount > balance.available:
        return await _reject(conn, cmd, "insufficient_points", balance.available, deps)
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
    await _reply(
        conn,
        "pending",
        cmd.hold_id,
        cmd.member_id,
        cmd.amount,
        available=balance.available - cmd.amount,
        expires_at=expires_at,
    )
    return applied(on_commit=(lambda: deps.metrics.holds.labels("placed").inc(),))


async def capture_hold(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    cmd = event.data
    assert isinstance(cmd, CaptureHold)
    hold = await repo.get_hold(conn, cmd.hold_id, lock=True)
    if hold is None or hold["member_id"] != cmd.member_id:
        return await _refuse(conn, cmd.hold_id, cmd.member_id, "unknown_hold")
    if hold["status"] != "pending":
        if hold["status"] == "captured":
            await _announce(conn, hold)
            return ignored("captured already: announced again")
        return await _refuse(conn, cmd.hold_id, cmd.member_id, "hold_not_pending", hold)
    if hold["expires_at"] <= datetime.now(UTC):  # the sweep has not run yet: it is expired all the same
        await _expire(conn, hold)
        expired = await repo.get_hold(conn, cmd.hold_id)  # the refusal says what the hold is now: expired
        return await _refuse(conn, cmd.hold_id, cmd.member_id, "expired", expired)
    member = await members.require(conn, cmd.member_id)
    transfer_id = derived_event_id("capture", cmd.hold_id)
    await repo.insert_transfer(
        conn,
        repo.NewTransfer(
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
        ),
    )
    after = await repo.resolve_hold(
        conn,
        cmd.hold_id,
        "captured",
        "captured",
        member_id=cmd.member_id,
        amount=hold["amount"],
        transfer_id=transfer_id,
    )
    await _reply(
        conn, "captured", cmd.hold_id, cmd.member_id, hold["amount"], available=after.available, transfer_id=transfer_id
    )
    await usecases.announce(
        conn,
        "points.debited",
        cmd.member_id,
        transfer_id,
        PointsDebited(
            member_id=cmd.member_id,
            transfer_id=transfer_id,
            amount=hold["amount"],
            kind="redemption",
            ref=cmd.hold_id,
            reason=hold["reason"],
            rule_version=deps.policy.version,
            balance=after.available,
            occurred_at=event.envelope.time,
        ),
    )
    return applied(on_commit=(lambda: deps.metrics.holds.labels("captured").inc(),))


async def release_hold(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    cmd = event.data
    assert isinstance(cmd, ReleaseHold)
    hold = await repo.get_hold(conn, cmd.hold_id, lock=True)
    if hold is None or hold["member_id"] != cmd.member_id:
        return await _refuse(conn, cmd.hold_id, cmd.member_id, "unknown_hold")
    if hold["status"] != "pending":
        await _announce(conn, hold)  # released, expired or captured: the caller learns which
        return ignored(f"hold is {hold['status']} already: announced again")
    after = await repo.resolve_hold(
        conn, cmd.hold_id, "released", cmd.reason, member_id=cmd.member_id, amount=hold["amount"]
    )
    await _reply(
        conn, "released", cmd.hold_id, cmd.member_id, hold["amount"], reason=cmd.reason, available=after.available
    )
    return applied(on_commit=(lambda: deps.metrics.holds.labels("released").inc(),))


async def refund_hold(conn: Conn, event: ParsedEvent, *, deps: Deps) -> Outcome:
    """Give back a captured hold's points: a compensating transfer from where the capture put them."""
    cmd = event.data
    assert isinstance(cmd, RefundHold)
    hold = await repo.get_hold(conn, cmd.hold_id, lock=True)
    if hold is None or hold["member_id"] != cmd.member_id:
        return await _refuse(conn, cmd.hold_id, cmd.member_id, "unknown_hold")
    if hold["status"] == "refunded":
        await _announce(conn, hold)
        return ignored("refunded already: announced again")
    if hold["status"] != "captured":
        return await _refuse(conn, cmd.hold_id, cmd.member_id, "hold_not_captured", hold)
    capture = await repo.get_transfer(conn, hold["transfer_id"])
    assert capture is not None
    refund_id = derived_event_id("refund", cmd.hold_id)
    await repo.insert_transfer(
        conn,
        repo.NewTransfer(
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
        ),
    )
    after = await repo.apply_to_member(conn, cmd.member_id, credit=hold["amount"])
    await repo.mark_refunded(conn, cmd.hold_id, cmd.reason, refund_id)
    await _reply(
        conn,
        "refunded",
        cmd.hold_id,
        cmd.member_id,
        hold["amount"],
        reason=cmd.reason,
        available=after.available,
        transfer_id=refund_id,
    )
    await usecases.announce(
        conn,
        "points.credited",
        cmd.member_id,
        refund_id,
        PointsCredited(
            member_id=cmd.member_id,
            transfer_id=refund_id,
            amount=hold["amount"],
            kind="refund",
            ref=cmd.hold_id,
            reason=cmd.reason,
            rule_version=deps.policy.version,
            balance=after.available,
            source_event=SourceRef(source=event.envelope.source, id=event.envelope.id),
            occurred_at=event.envelope.time,
        ),
    )
    return applied(on_commit=(lambda: deps.metrics.holds.labels("refunded").inc(),))


async def _expire(conn: Conn, hold: asyncpg.Record) -> None:
    after = await repo.resolve_hold(
        conn, hold["hold_id"], "expired", "expired", member_id=hold["member_id"], amount=hold["amount"]
    )
    await _reply(
        conn, "expired", hold["hold_id"], hold["member_id"], hold["amount"], reason="expired", available=after.available
    )


async def expire_once(conn: Conn, deps: Deps, batch: int = 500) -> int:
    """Expire pending holds past their time in one transaction: give the points back, say so."""
    async with conn.transaction():
        due = await repo.expired_holds(conn, batch)
        for hold in due:
            await _expire(conn, hold)
    deps.metrics.holds_open.set(await repo.open_holds(conn))
    if due:
        deps.metrics.holds.labels("expired").inc(len(due))
    return len(due)


async def expire_due(
    pool: Callable[[], asyncpg.Pool], deps: Deps, every_s: float, on_commit: Callable[[], None], batch: int = 500
) -> None:
    """Forever: expire what is due; a hold is never left pending past its time (plus one interval)."""
    while True:
        try:
            async with pool().acquire() as conn:
                expired = await expire_once(conn, deps, batch)
            if expired:
                on_commit()
                log.info("holds expired", count=expired)
        except Exception as exc:  # the next round retries
            log.warning("hold expiry sweep failed", error=type(exc).__name__)
        await asyncio.sleep(every_s)


async def _reject(conn: Conn, cmd: PlaceHold, reason: str, available: int | None, deps: Deps) -> Outcome:
    await _reply(conn, "rejected", cmd.hold_id, cmd.member_id, cmd.amount, reason=reason, available=available)
    return applied(on_commit=(lambda: deps.metrics.holds.labels(f"rejected_{reason}").inc(),))


async def _refuse(conn: Conn, hold_id: str, member_id: str, reason: str, hold: asyncpg.Record | None = None) -> Outcome:
    await _reply(
        conn,
        "refused",
        hold_id,
        member_id,
        hold["amount"] if hold else 0,
        reason=reason,
        status=hold["status"] if hold else "unknown",
    )
    return ignored(f"command on hold {hold_id} refused: {reason}")


async def _announce(conn: Conn, hold: asyncpg.Record) -> None:
    """Say a hold's current state again (same event id as the first time: deduplicated by the caller)."""
    status = hold["status"]
    await _reply(
        conn,
        status,
        hold["hold_id"],
        hold["member_id"],
        hold["amount"],
        reason=hold["resolution"] if status in ("released", "expired", "refunded") else None,
        expires_at=hold["expires_at"] if status == "pending" else None,
        transfer_id=hold["refund_transfer_id"] if status == "refunded" else hold["transfer_id"],
    )


async def _reply(
    conn: Conn,
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
    event_id = derived_event_id(type_, hold_id, reason or "") if kind == "refused" else derived_event_id(type_, hold_id)
    await outbox.emit(
        conn,
        topic=topics.POINTS_REPLIES,
        key=member_id,
        source=SOURCE,
        type=type_,
        subject=hold_id,
        data=reply,
        event_id=event_id,
        time=now,
    )
