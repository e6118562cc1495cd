"""Ledger rules: pure, no I/O."""

from __future__ import annotations

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


class InsufficientPoints(Exception):
    pass


def check_debit(balance: Balance, amount: int) -> None:
    """A debit that is not a reversal may never take the available balance below zero."""
    if amount > balance.available:
        raise InsufficientPoints(f"available {balance.available} is less than {amount}")
