"""Posting a transfer: the one way points move, whatever moves them.

Earning, a reversal, an operator's adjustment, a captured hold and a refund all post through
`post_transfer`: the ledger row (append-only, idempotent on its id), the member's balance in step
with it, the points earned for levels and rankings when it is earned (or takes an earning back),
and its announcement (points.credited, points.reversed or points.debited, with an id derived from
the transfer id and the transfer's own time). What decides whether and how much to post is the
callers' (usecases.py, holds.py, credits.py for a run at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from incentives_kernel.events import PointsCredited, PointsDebited, PointsReversed, SourceRef
from incentives_kernel.outcome import UnitOfWork

from . import levels
from . import repository as repo
from .ledger import Balance, member_account
from .policy import Policy


@dataclass(frozen=True, slots=True)
class Earned:
    """The transfer pays points earned on `day` (or, debiting the member, takes them back from it)."""

    day: date
    district: str


@dataclass(frozen=True, slots=True)
class Reversal:
    """The transfer takes back a credit (`NewTransfer.reverses`): what that credit was for, and why."""

    kind: str  # report | volunteer
    cause: str | None  # invalid | fraudulent | revoked


async def post_transfer(
    uow: UnitOfWork,
    t: repo.NewTransfer,
    *,
    rules: Policy,
    timezone: str,
    earned: Earned | None = None,
    reversal: Reversal | None = None,
    from_hold: bool = False,
) -> Balance | None:
    """Append `t`, move the member's balance with it, count what it earns, and announce it.

    Returns the balance after it, or None, with nothing done, when a transfer with its id exists.
    `from_hold`: the debit was held for it (a captured hold), so it leaves `held` as it joins `debits`.
    """
    if not await repo.insert_transfer(uow.conn, t):
        return None
    credit = t.credit_account == member_account(t.member_id)
    after = await repo.apply_to_member(
        uow.conn,
        t.member_id,
        credit=t.amount if credit else 0,
        debit=0 if credit else t.amount,
        release=t.amount if from_hold else 0,
    )
    if earned is not None:
        await levels.record(
            uow,
            member_id=t.member_id,
            district=earned.district,
            day=earned.day,
            delta=t.amount if credit else -t.amount,
            cause="earned" if credit else "reversed",
            cause_id=t.transfer_id,
            timezone=timezone,
            rules=rules,
        )
    announce(uow, t, after.available, earned_day=earned.day if earned else None, reversal=reversal)
    return after


def announce(
    uow: UnitOfWork,
    t: repo.NewTransfer,
    available: int,
    *,
    earned_day: date | None = None,
    reversal: Reversal | None = None,
) -> None:
    """Say that transfer `t` was posted, leaving `available`: what paid the member, took back, or spent."""
    member_id = t.member_id
    said: dict[str, Any] = {
        "member_id": member_id,
        "transfer_id": t.transfer_id,
        "amount": t.amount,
        "ref": t.ref or "",
        "reason": t.reason,
        "rule_version": t.rule_version,
        "balance": available,
        "occurred_at": t.occurred_at,
    }
    source_event = SourceRef(source=t.source, id=t.source_event_id)
    data: PointsCredited | PointsReversed | PointsDebited
    if t.credit_account == member_account(member_id):
        type_ = "points.credited"
        data = PointsCredited(**said, kind=t.kind, source_event=source_event, earned_day=earned_day)
    elif reversal is not None:
        type_ = "points.reversed"
        data = PointsReversed(
            **said,
            kind=reversal.kind,
            reverses=t.reverses,
            cause=reversal.cause,
            source_event=source_event,
            earned_day=earned_day,
        )
    else:
        type_ = "points.debited"
        data = PointsDebited(**said, kind=t.kind)
    uow.emit(type_, member_id, member_id, data, id_from=(t.transfer_id,), time=t.occurred_at)
