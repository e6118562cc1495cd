"""Ledger rules: account names, the no-overdraft debit check, and balances along a run posted at once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from points.ledger import (
    Balance,
    InsufficientPoints,
    Move,
    adjustment_account,
    balances_along,
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


MOVES = st.builds(
    Move,
    credit=st.integers(0, 50),
    debit=st.integers(0, 50),
    release=st.integers(0, 50),
)


@given(
    start=st.dictionaries(st.sampled_from("abc"), st.builds(Balance, *[st.integers(0, 500)] * 3), min_size=3),
    run=st.lists(st.tuples(st.sampled_from("abc"), MOVES), max_size=12),
)
def test_balances_along_a_run_applied_at_once_are_as_one_move_after_another(
    start: dict[str, Balance], run: list[tuple[str, Move]]
) -> None:
    now, one_by_one = dict(start), []
    for member_id, move in run:
        b = now[member_id]
        now[member_id] = Balance(b.credits + move.credit, b.debits + move.debit, b.held - move.release)
        one_by_one.append(now[member_id])
    assert balances_along(run, now) == one_by_one


def test_a_captured_hold_leaves_held_as_it_joins_debits() -> None:
    # credited 30 with 20 held, then the hold captured (debit 20 from held), then credited 5
    run = [("m", Move(credit=30)), ("m", Move(debit=20, release=20)), ("m", Move(credit=5))]
    after = balances_along(run, {"m": Balance(credits=135, debits=20, held=0)})
    assert [b.available for b in after] == [110, 110, 115]
    assert after[0] == Balance(130, 0, 20) and after[1] == Balance(130, 20, 0)
