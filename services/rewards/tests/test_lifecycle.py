"""The rewards state machines (lifecycle.py): holds, redemptions and applications, exhaustively."""

from __future__ import annotations

import itertools

import pytest
from incentives_kernel.events import REPLY_TYPES
from rewards import lifecycle as lc
from rewards.lifecycle import (
    ApplicationNext,
    ApplicationStatus,
    HoldStatus,
    RedemptionNext,
    RedemptionStatus,
    Said,
    Step,
)


def test_every_reply_type_says_something() -> None:
    assert set(lc.SAID) == set(REPLY_TYPES)
    assert set(lc.HOLD_STATE) == set(Said) - {Said.REFUSED}


@pytest.mark.parametrize(("status", "said"), list(itertools.product(HoldStatus, Said)))
def test_a_hold_moves_only_forward(status: HoldStatus, said: Said) -> None:
    allowed = {
        (HoldStatus.REQUESTED, Said.PLACED): HoldStatus.PENDING,
        (HoldStatus.REQUESTED, Said.REJECTED): HoldStatus.REJECTED,
        (HoldStatus.REQUESTED, Said.RELEASED): HoldStatus.RELEASED,
        (HoldStatus.PENDING, Said.CAPTURED): HoldStatus.CAPTURED,
        (HoldStatus.PENDING, Said.RELEASED): HoldStatus.RELEASED,
        (HoldStatus.PENDING, Said.EXPIRED): HoldStatus.EXPIRED,
        (HoldStatus.CAPTURED, Said.REFUNDED): HoldStatus.REFUNDED,
    }
    if said is Said.REFUSED:
        assert lc.hold_after(status, said) is None  # a refused command leaves the hold as it is
    elif (status, said) in allowed:
        assert lc.hold_after(status, said) is allowed[(status, said)]
    else:
        with pytest.raises(lc.StaleReply):
            lc.hold_after(status, said)


def test_a_repeated_reply_is_stale_with_its_reason() -> None:
    with pytest.raises(lc.StaleReply, match="hold is pending already"):
        lc.hold_after("pending", Said.PLACED)
    with pytest.raises(lc.StaleReply, match="stale: hold is released, reply says captured"):
        lc.hold_after("released", Said.CAPTURED)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(RedemptionStatus, RedemptionStatus)))
def test_redemption_moves(current: RedemptionStatus, new: RedemptionStatus) -> None:
    forward = {
        (RedemptionStatus.PENDING, RedemptionStatus.CONFIRMED),
        (RedemptionStatus.PENDING, RedemptionStatus.REJECTED),
        (RedemptionStatus.CONFIRMED, RedemptionStatus.FULFILLED),
        (RedemptionStatus.CONFIRMED, RedemptionStatus.CANCELLED),
        (RedemptionStatus.CONFIRMED, RedemptionStatus.EXPIRED),
    }
    if current == new:
        assert lc.redemption_moves(current, new) is False  # asking again changes nothing
    elif (current, new) in forward:
        assert lc.redemption_moves(current, new) is True
    else:
        with pytest.raises(lc.IllegalMove):
            lc.redemption_moves(current, new)


def test_a_refused_cancellation_or_fulfilment_keeps_its_http_code_and_words() -> None:
    with pytest.raises(lc.IllegalMove) as cancelled:
        lc.redemption_moves("fulfilled", RedemptionStatus.CANCELLED)
    assert (cancelled.value.code, str(cancelled.value)) == (
        "not_cancellable",
        "a fulfilled redemption cannot be cancelled",
    )
    with pytest.raises(lc.IllegalMove) as fulfilled:
        lc.redemption_moves("pending", RedemptionStatus.FULFILLED)
    assert (fulfilled.value.code, str(fulfilled.value)) == (
        "not_fulfillable",
        "a pending redemption cannot be fulfilled",
    )


def next_for_redemption(said: Said, status: str, step: str = Step.HOLD_REQUESTED, wanted: str = "pending") -> str:
    return lc.redemption_after_hold(said, status=status, step=step, wanted=wanted)


def test_the_saga_on_each_answer() -> None:
    pending, confirmed = RedemptionStatus.PENDING, RedemptionStatus.CONFIRMED
    assert next_for_redemption(Said.PLACED, pending) is RedemptionNext.CAPTURE
    assert next_for_redemption(Said.PLACED, pending, step=Step.CAPTURE_REQUESTED) is RedemptionNext.RELEASE_LATE_HOLD
    assert next_for_redemption(Said.PLACED, RedemptionStatus.REJECTED) is RedemptionNext.RELEASE_LATE_HOLD
    assert next_for_redemption(Said.PLACED, RedemptionStatus.REJECTED, wanted="released") is RedemptionNext.NOTHING
    assert next_for_redemption(Said.CAPTURED, pending) is RedemptionNext.CONFIRM
    assert next_for_redemption(Said.CAPTURED, confirmed, wanted="captured") is RedemptionNext.REFUND_UNEXPECTED_CAPTURE
    assert next_for_redemption(Said.CAPTURED, confirmed, wanted="refunded") is RedemptionNext.NOTHING
    assert next_for_redemption(Said.REJECTED, pending) is RedemptionNext.REJECT
    assert next_for_redemption(Said.REJECTED, confirmed) is RedemptionNext.NOTHING
    for said in (Said.EXPIRED, Said.REFUSED):
        assert next_for_redemption(said, pending) is RedemptionNext.TIME_OUT
        assert next_for_redemption(said, confirmed) is RedemptionNext.NOTHING
    for said in (Said.RELEASED, Said.REFUNDED):
        assert next_for_redemption(said, pending) is RedemptionNext.NOTHING


def next_for_application(said: Said, status: str, *, current: bool = True, open_: bool = True, wanted: str = "") -> str:
    return lc.application_after_hold(said, status=status, current=current, round_open=open_, wanted=wanted)


def test_a_round_on_each_answer() -> None:
    a = ApplicationStatus
    assert next_for_application(Said.PLACED, a.PENDING) is ApplicationNext.HOLD
    assert (
        next_for_application(Said.PLACED, a.PENDING, open_=False, wanted="pending") is ApplicationNext.RELEASE_LATE_HOLD
    )
    assert next_for_application(Said.PLACED, a.OFFERED) is ApplicationNext.ACCEPT_OFFER
    assert (
        next_for_application(Said.PLACED, a.OFFERED, current=False, wanted="pending")
        is ApplicationNext.RELEASE_LATE_HOLD
    )
    assert next_for_application(Said.REJECTED, a.PENDING) is ApplicationNext.LOSE_UNPAID
    assert next_for_application(Said.REJECTED, a.OFFERED) is ApplicationNext.PASS_OVER
    assert next_for_application(Said.REJECTED, a.OFFERED, current=False) is ApplicationNext.NOTHING
    assert next_for_application(Said.CAPTURED, a.WINNING) is ApplicationNext.WIN
    assert next_for_application(Said.CAPTURED, a.WINNING, current=False) is ApplicationNext.NOTHING
    for said in (Said.EXPIRED, Said.REFUSED):
        assert next_for_application(said, a.HELD) is ApplicationNext.LOSE_EXPIRED
        assert next_for_application(said, a.WINNING) is ApplicationNext.FORFEIT
        assert next_for_application(said, a.OFFERED) is ApplicationNext.FORFEIT
        assert next_for_application(said, a.LOST) is ApplicationNext.NOTHING
