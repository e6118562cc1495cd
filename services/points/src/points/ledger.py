"""Ledger rules: pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def member_account(member_id: str) -> str:
    return f"member:{member_id}"


def issuance_account(district: str) -> str:
    return f"issuance:{district}"


def redemption_account(district: str) -> str:
    return f"redemption:{district}"


def adjustment_account(district: str) -> str:
    return f"adjustment:{district}"


@dataclass(frozen=True, slots=True)
class Balance:
    credits: int
    debits: int
    held: int

    @property
    def available(self) -> int:
        return self.credits - self.debits - self.held


@dataclass(frozen=True, slots=True)
class Move:
    """What a transfer does to its member's balance row; `release`: points that leave `held` with it
    (a captured hold is debited from what was held for it)."""

    credit: int = 0
    debit: int = 0
    release: int = 0

    def __add__(self, other: Move) -> Move:
        return Move(self.credit + other.credit, self.debit + other.debit, self.release + other.release)


def balances_along(moves: Sequence[tuple[str, Move]], after: Mapping[str, Balance]) -> list[Balance]:
    """Each (member, move)'s balance right after it, in a run applied at once that left `after`:
    the member's balance after the run as it was before that member's later moves."""
    # Plain ints, not Move arithmetic: this runs for every credit of the ledger's hot path.
    later: dict[str, list[int]] = {}
    for member_id, move in moves:
        sums = later.setdefault(member_id, [0, 0, 0])
        sums[0] += move.credit
        sums[1] += move.debit
        sums[2] += move.release
    along = []
    for member_id, move in moves:
        sums = later[member_id]
        sums[0] -= move.credit
        sums[1] -= move.debit
        sums[2] -= move.release
        end = after[member_id]
        along.append(Balance(end.credits - sums[0], end.debits - sums[1], end.held + sums[2]))
    return along


class InsufficientPoints(Exception):
    pass


def check_debit(balance: Balance, amount: int) -> None:
    """A debit that is not a reversal may never take the available balance below zero."""
    if amount > balance.available:
        raise InsufficientPoints(f"available {balance.available} is less than {amount}")
