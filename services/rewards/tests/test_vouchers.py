"""Voucher codes: unguessable, readable, and a typo is caught by the check character."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from rewards import vouchers

SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}-[0-9A-HJKMNP-TV-Z*~$=U]$")


def test_codes_have_the_documented_shape_and_are_valid() -> None:
    codes = {vouchers.issue() for _ in range(2000)}
    assert len(codes) == 2000  # 80 random bits: no repeats in practice
    assert all(SHAPE.match(c) and vouchers.is_valid(c) for c in codes)


def test_typing_is_forgiven_but_not_mistakes() -> None:
    code = vouchers.issue()
    sloppy = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert vouchers.normalise(sloppy) == code
    assert vouchers.normalise(code[:-1]) is None
    assert vouchers.normalise("") is None
    assert vouchers.normalise(code.replace("-", "") + "X") is None


@given(st.integers(min_value=0, max_value=18), st.integers(min_value=1, max_value=31))
def test_any_single_character_change_is_caught(position: int, shift: int) -> None:
    code = vouchers.issue()
    body = code.replace("-", "")
    if position >= len(body) - 1:  # the check character itself: change it to another check symbol
        changed = body[:-1] + vouchers.CHECK_ALPHABET[(vouchers.CHECK_ALPHABET.index(body[-1]) + shift) % 37]
    else:
        digit = vouchers.ALPHABET[(vouchers.ALPHABET.index(body[position]) + shift) % 32]
        changed = body[:position] + digit + body[position + 1 :]
    assert not vouchers.is_valid(changed)


def test_swapping_two_neighbours_is_caught() -> None:
    for _ in range(500):
        body = vouchers.issue().replace("-", "")
        for i in range(len(body) - 2):
            if body[i] != body[i + 1]:
                swapped = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
                assert not vouchers.is_valid(swapped)
