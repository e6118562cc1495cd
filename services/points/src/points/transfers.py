"""Posting transfers: the one way points move, whatever moves them.

Earning (one event, or a run of a batch at once), a reversal, an operator's adjustment, a captured
hold and a refund all post through `post`, with a run of one transfer or many, set-based (one
statement per kind of row, whatever the run's length): the ledger rows (append-only, idempotent on
their ids), the members' balances in step with them, the points earned for levels and rankings when
a transfer is earned (or takes an earning back), and each transfer's announcement
(points.credited, points.reversed or points.debited, with an id derived from the transfer id and
the transfer's own time; a level move it causes is announced just before it). Balances and 365-day
figures are announced as they stand right after each transfer, as posting the run one transfer
after another would. What decides whether and how much to post is the callers' (usecases.py,
holds.py, credits.py for a run of credits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from incentives_kernel.events import PointsCredited, PointsDebited, PointsReversed, SourceRef
from incentives_kernel.outcome import UnitOfWork

from . import levels
from . import repository as repo
from .ledger import Balance, Move, balances_along, member_account
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


@dataclass(frozen=True, slots=True)
class Posting:
    """A transfer to post, and what it means besides moving points.

    `earned`: it counts for levels and rankings (a credit adds, a debit takes back); `reversal`: it
    is announced as points.reversed; `from_hold`: the debit was held for it (a captured hold), so it
    leaves `held` as it joins `debits`.
    """

    transfer: repo.NewTransfer
    earned: Earned | None = None
    reversal: Reversal | None = None
    from_hold: bool = False
    # Whether it pays the member (else it debits them): asked three times per posting on the hot path.
    credits_member: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        t = self.transfer
        object.__setattr__(self, "credits_member", t.credit_account == member_account(t.member_id))

    @property
    def move(self) -> Move:
        amount = self.transfer.amount
        if self.credits_member:
            return Move(credit=amount)
        return Move(debit=amount, release=amount if self.from_hold else 0)


# What the caller does right after step i of a run is posted and announced (or, for a None step, in
# its place), so each member's events keep the order posting one step after another gives them.
Then = Callable[[int], Awaitable[None]]


async def post(
    uow: UnitOfWork,
    run: Sequence[Posting | None],
    *,
    rules: Policy,
    timezone: str,
    then: Then | None = None,
) -> list[Balance | None]:
    """Post a run of transfers, in order: append them, move their members' balances, count what
    they earn, and announce each.

    Returns, for each step, the member's balance right after it; None where the step is None or a
    transfer with its id exists already (posted before, or earlier in the run): nothing is done
    for it. `then(i)` runs after step i's announcement (credits.py records a cap cut there).
    """
    conn = uow.conn
    first: dict[str, Posting] = {}
    for p in run:
        if p is not None:
            first.setdefault(p.transfer.transfer_id, p)
    fresh = await repo.insert_transfers(conn, [p.transfer for p in first.values()]) if first else set()
    steps: list[Posting | None] = []
    for p in run:
        if p is not None and p.transfer.transfer_id in fresh:
            fresh.discard(p.transfer.transfer_id)  # the same id again in the run is that transfer
            steps.append(p)
        else:
            steps.append(None)
    posted = [p for p in steps if p is not None]

    moves = [(p.transfer.member_id, p.move) for p in posted]
    per_member: dict[str, Move] = {}
    for member_id, move in moves:
        per_member[member_id] = per_member.get(member_id, Move()) + move
    after = await repo.apply_to_members(conn, per_member) if per_member else {}
    balances = iter(balances_along(moves, after))

    counted = [p for p in posted if p.earned is not None]
    entries = [_entry(p) for p in counted]
    level_moves: dict[str, levels.LevelMove | None] = {}
    if entries:
        standing = await levels.count(uow, entries, timezone=timezone)
        level_moves = {
            p.transfer.transfer_id: m for p, m in zip(counted, levels.climb(entries, standing, rules), strict=True)
        }

    settled: dict[str, tuple[int, int]] = {}
    results: list[Balance | None] = []
    for i, p in enumerate(steps):
        if p is None:
            results.append(None)
        else:
            t = p.transfer
            moved = level_moves.get(t.transfer_id)
            if moved is not None:
                cause = "earned" if p.credits_member else "reversed"
                levels.announce_move(
                    uow, t.member_id, moved.before, moved.level, moved.earned, cause=cause, cause_id=t.transfer_id
                )
                settled[t.member_id] = (moved.level, moved.earned)
            balance = next(balances)
            _announce(uow, p, balance.available)
            results.append(balance)
        if then is not None:
            await then(i)
    await repo.set_levels(conn, settled)
    return results


def _entry(p: Posting) -> levels.Entry:
    assert p.earned is not None
    t = p.transfer
    return levels.Entry(t.member_id, p.earned.district, p.earned.day, t.amount if p.credits_member else -t.amount)


def _announce(uow: UnitOfWork, p: Posting, available: int) -> None:
    """Say that a transfer was posted, leaving `available`: what paid the member, took back, or spent."""
    t = p.transfer
    member_id = t.member_id
    earned_day = p.earned.day if p.earned is not None else None
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
    if p.credits_member:
        type_ = "points.credited"
        data = PointsCredited(**said, kind=t.kind, source_event=source_event, earned_day=earned_day)
    elif p.reversal is not None:
        type_ = "points.reversed"
        data = PointsReversed(
            **said,
            kind=p.reversal.kind,
            reverses=t.reverses,
            cause=p.reversal.cause,
            source_event=source_event,
            earned_day=earned_day,
        )
    else:
        type_ = "points.debited"
        data = PointsDebited(**said, kind=t.kind)
    uow.emit(type_, member_id, member_id, data, id_from=(t.transfer_id,), time=t.occurred_at)
