"""The rewards state machines (lifecycle.py): holds, redemptions, rounds and applications, exhaustively."""

from __future__ import annotations

import itertools
import re
from enum import StrEnum
from pathlib import Path

import pytest
import rewards
from incentives_kernel.events import REPLY_TYPES
from rewards import lifecycle as lc
from rewards.lifecycle import (
    ApplicationNext,
    ApplicationStatus,
    HoldStatus,
    RedemptionNext,
    RedemptionStatus,
    ResultStatus,
    RoundStatus,
    Said,
    Step,
)
from rewards.rounds_api import RoundFilter


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


# ---------------------------------------------------------------- rounds and their results


@pytest.mark.parametrize(("current", "new"), list(itertools.product(RoundStatus, RoundStatus)))
def test_round_moves(current: RoundStatus, new: RoundStatus) -> None:
    forward = {
        (RoundStatus.OPEN, RoundStatus.CLOSING),  # holds still unanswered: no new applications, wait for them
        (RoundStatus.OPEN, RoundStatus.CLOSED),
        (RoundStatus.CLOSING, RoundStatus.CLOSED),
    }
    if current == new:
        assert lc.round_moves(current, new) is False  # closing a closed round again answers it as it is
    elif (current, new) in forward:
        assert lc.round_moves(current, new) is True
    else:
        with pytest.raises(lc.IllegalRoundMove, match=f"a {current} round cannot become {new}"):
            lc.round_moves(current, new)


def test_a_closed_round_is_terminal_and_only_an_open_one_takes_applications() -> None:
    assert RoundStatus.CLOSED not in lc.ROUND_MOVES
    assert [s for s in RoundStatus if lc.takes_applications(s)] == [RoundStatus.OPEN]


@pytest.mark.parametrize(("current", "new"), list(itertools.product([None, *ResultStatus], ResultStatus)))
def test_result_moves(current: ResultStatus | None, new: ResultStatus) -> None:
    allowed = {
        (None, ResultStatus.PROVISIONAL),
        (None, ResultStatus.FINAL),
        (ResultStatus.PROVISIONAL, ResultStatus.FINAL),
    }
    assert lc.result_may_move(current, new) is ((current, new) in allowed)


def test_a_result_is_provisional_for_the_notice_and_final_at_once_without_one() -> None:
    assert lc.result_at_close(5) is ResultStatus.PROVISIONAL
    assert lc.result_at_close(0) is ResultStatus.FINAL
    assert ResultStatus.FINAL not in lc.RESULT_MOVES


def test_the_rounds_list_filters_on_a_rounds_status_or_its_results() -> None:
    assert {f.value for f in RoundFilter} == {*RoundStatus, *ResultStatus}


def test_only_a_provisional_result_may_change() -> None:
    lc.check_notice("r1", RoundStatus.CLOSED, ResultStatus.PROVISIONAL)
    for status, result, said in [
        (RoundStatus.OPEN, None, "round r1 is open"),
        (RoundStatus.CLOSING, None, "round r1 is closing"),
        (RoundStatus.CLOSED, ResultStatus.FINAL, "round r1 is final"),
    ]:
        with pytest.raises(lc.Refused) as refused:
            lc.check_notice("r1", status, result)
        assert refused.value.code == "not_in_notice"
        assert str(refused.value) == f"{said}: only a provisional result can change"


# ---------------------------------------------------------------- applications

A = ApplicationStatus
APPLICATION_FORWARD = {
    (A.PENDING, A.HELD),  # points placed the hold
    (A.PENDING, A.LOST),  # insufficient_points, or hold_unconfirmed at the close
    (A.HELD, A.WINNING),  # ranked within the quota: capture asked
    (A.HELD, A.LOST),  # outranked, not_eligible, hold_expired
    (A.WINNING, A.WON),
    (A.WINNING, A.FORFEITED),  # the capture failed: the place passes on
    (A.WON, A.CANCELLED),  # the winner gave the place up
    (A.WON, A.DISQUALIFIED),  # during the notice
    (A.LOST, A.OFFERED),  # a place fell free: its cost asked again
    (A.LOST, A.WINNING),  # an award's freed place: theirs at once
    (A.OFFERED, A.WINNING),
    (A.OFFERED, A.LOST),  # passed over: points refused the hold
    (A.OFFERED, A.FORFEITED),
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(ApplicationStatus, ApplicationStatus)))
def test_application_moves(current: ApplicationStatus, new: ApplicationStatus) -> None:
    assert lc.application_may_move(current, new) is ((current, new) in APPLICATION_FORWARD)
    assert (current in lc.moves_into(new)) is ((current, new) in APPLICATION_FORWARD)


def test_terminal_and_unreached_application_states() -> None:
    terminal = {s for s in ApplicationStatus if not any(lc.application_may_move(s, n) for n in ApplicationStatus)}
    assert terminal == {A.REJECTED, A.FORFEITED, A.CANCELLED, A.DISQUALIFIED}
    reached = set(lc.APPLICATION_STARTS)
    while grown := {n for s in reached for n in lc.APPLICATION_MOVES.get(s, ())} - reached:
        reached |= grown
    assert set(ApplicationStatus) - reached == {A.REJECTED}  # allowed by the CHECK, never entered


def test_place_groups() -> None:
    assert {A.WON, A.WINNING, A.OFFERED} == lc.HOLDS_PLACE
    assert {A.DISQUALIFIED, A.CANCELLED, A.FORFEITED} == lc.VACATED
    assert not lc.HOLDS_PLACE & lc.VACATED
    assert {n for s in lc.HOLDS_PLACE for n in lc.APPLICATION_MOVES[s]} >= lc.VACATED  # only a place held is vacated


@pytest.mark.parametrize("status", list(ApplicationStatus))
def test_only_a_winner_holding_the_place_may_be_disqualified(status: ApplicationStatus) -> None:
    if status is A.WON:
        lc.check_disqualification("r1", "rider-1", status)
        return
    with pytest.raises(lc.Refused) as refused:
        lc.check_disqualification("r1", "rider-1", status)
    if status in (A.WINNING, A.OFFERED):
        assert refused.value.code == "payment_in_progress"
        assert str(refused.value) == "rider-1's place is being paid for: try again in a moment"
    else:
        assert refused.value.code == "not_a_winner"
        assert str(refused.value) == f"rider-1 holds no place in round r1 ({status})"


# ---------------------------------------------------------------- the tables agree with the database

# (table, column) -> the enum whose values its CHECK constraint must list (`wanted`: the ones rewards asks for).
CHECKED: dict[tuple[str, str], type[StrEnum]] = {
    ("redemptions", "status"): RedemptionStatus,
    ("holds", "status"): HoldStatus,
    ("allocation_rounds", "status"): RoundStatus,
    ("allocation_rounds", "result_status"): ResultStatus,
    ("applications", "status"): ApplicationStatus,
}


def constraints() -> dict[tuple[str, str], set[str]]:
    """The latest `CHECK (<column> IN (...))` of each table's column, over the migrations in order."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted((Path(rewards.__file__).parent / "migrations").glob("*.sql")):
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        for statement in sql.split(";"):
            table = re.search(r"(?:CREATE|ALTER) TABLE (\w+)", statement)
            for column, values in re.findall(r"CHECK \((\w+) IN \(([^)]*)\)\)", statement):
                assert table is not None
                found[(table.group(1), column)] = set(re.findall(r"'(\w+)'", values))
    return found


def test_the_databases_status_constraints_name_the_enums_states() -> None:
    checks = constraints()
    for (table, column), enum in CHECKED.items():
        assert checks[(table, column)] == {s.value for s in enum}, f"{table}.{column}"
    assert checks[("holds", "wanted")] <= {s.value for s in HoldStatus}
