"""Ledger rules: account names and the no-overdraft debit check."""

from __future__ import annotations

import pytest
from points.ledger import (
    Balance,
    InsufficientPoints,
    adjustment_account,
    check_debit,
    issuance_account,
    member_account,
)


def test_account_names_are_distinct_per_kind() -> None:
    names = {member_account("nanqu"), issuance_account("nanqu"), adjustment_account("nanqu")}
    assert len(names) == 3
    assert member_account("m-1") == "member:m-1"
    assert issuance_account("nanqu") == "issuance:nanqu"
    assert adjustment_account("nanqu") == "adjustment:nanqu"


@pytest.mark.parametrize(
    ("credits", "debits", "held", "available"),
    [(0, 0, 0, 0), (100, 30, 20, 50), (10, 25, 0, -15), (100, 0, 100, 0)],
)
def test_available_is_credits_less_debits_less_held(credits, debits, held, available) -> None:
    assert Balance(credits, debits, held).available == available


@pytest.mark.parametrize("amount", [0, 1, 49, 50])
def test_debit_up_to_the_available_balance(amount) -> None:
    check_debit(Balance(credits=100, debits=30, held=20), amount)  # available 50


@pytest.mark.parametrize("amount", [51, 100, 10**6])
def test_debit_beyond_the_available_balance(amount) -> None:
    with pytest.raises(InsufficientPoints, match="available 50"):
        check_debit(Balance(credits=100, debits=30, held=20), amount)


def test_held_points_cannot_be_spent() -> None:
    with pytest.raises(InsufficientPoints):
        check_debit(Balance(credits=100, debits=0, held=80), 21)


def test_negative_balance_blocks_every_debit() -> None:
    # a reversal may take the balance below zero; redemptions then wait
    with pytest.raises(InsufficientPoints):
        check_debit(Balance(credits=10, debits=15, held=0), 1)
