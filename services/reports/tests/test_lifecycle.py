"""The case state machine: every (current, new) pair in a table, transfers, reopening, earning and
reversing flags, ratings after reopening, and a property test over random sequences of steps."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incentives_kernel.events import NeedRejectionReason, RejectionReason, ReopenReason, ReportStatus
from reports.lifecycle import (
    RANK,
    STATES,
    IllegalTransition,
    Kind,
    Move,
    NotRateable,
    Transition,
    holder_after,
    rate,
    transition,
)

NEW = [s.value for s in ReportStatus]  # what the dispatch platform sends
OPEN = ["submitted", "dispatched", "accepted", "reopened"]
REVERSING = [RejectionReason.INVALID, RejectionReason.FRAUDULENT]
NON_REVERSING = [RejectionReason.DUPLICATE, RejectionReason.OUT_OF_SCOPE]
FLAGS = list(itertools.product([False, True], [False, True]))  # (verified, duplicate)
REASONS = {Kind.REPORT: list(RejectionReason), Kind.NEED: list(NeedRejectionReason)}

# How the step names a department, against the one holding the case: (current_department, department).
VARIANTS = {"none": ("D1", None), "same": ("D1", "D1"), "other": ("D1", "D2"), "first": (None, "D1")}

X = "illegal"
A, T, J, RO, R, S = Move.ADVANCE, Move.TRANSFER, Move.REJECT, Move.REOPEN, Move.REPEAT, Move.ASSIGN
SAME_STATUS = {"none": R, "same": R, "other": T, "first": S}
# Every (current, new) pair. A value is the move for every department variant, or one per variant.
# `rejected` from resolved depends on the reason (tested below), so its cell here is for a
# non-reversing reason.
TABLE: dict[tuple[str, str], Move | str | dict[str, Move | str]] = {
    ("submitted", "dispatched"): A,
    ("submitted", "accepted"): A,
    ("submitted", "resolved"): A,
    ("submitted", "rejected"): J,
    ("submitted", "reopened"): X,
    ("dispatched", "dispatched"): SAME_STATUS,
    ("dispatched", "accepted"): A,
    ("dispatched", "resolved"): A,
    ("dispatched", "rejected"): J,
    ("dispatched", "reopened"): X,
    ("accepted", "dispatched"): {"none": X, "same": X, "other": T, "first": T},
    ("accepted", "accepted"): SAME_STATUS,
    ("accepted", "resolved"): A,
    ("accepted", "rejected"): J,
    ("accepted", "reopened"): X,
    ("resolved", "dispatched"): X,
    ("resolved", "accepted"): X,
    ("resolved", "resolved"): {"none": R, "same": R, "other": X, "first": S},
    ("resolved", "rejected"): X,
    ("resolved", "reopened"): RO,
    ("rejected", "dispatched"): X,
    ("rejected", "accepted"): X,
    ("rejected", "resolved"): X,
    ("rejected", "rejected"): X,
    ("rejected", "reopened"): X,
    ("reopened", "dispatched"): A,
    ("reopened", "accepted"): A,
    ("reopened", "resolved"): A,
    ("reopened", "rejected"): J,
    ("reopened", "reopened"): SAME_STATUS,
}


def reason_for(new: str, kind: Kind) -> str | None:
    if new == "rejected":
        return RejectionReason.OUT_OF_SCOPE.value if kind is Kind.REPORT else NeedRejectionReason.CANNOT_HELP.value
    if new == "reopened":
        return ReopenReason.REWORK.value
    return None


def move(
    current: str,
    new: str,
    reason: str | None = None,
    *,
    kind: Kind = Kind.REPORT,
    verified: bool = False,
    duplicate: bool = False,
    department: str | None = None,
    current_department: str | None = None,
) -> Transition:
    return transition(
        current,
        new,
        reason,
        verified=verified,
        duplicate=duplicate,
        kind=kind,
        department=department,
        current_department=current_department,
    )


def test_the_table_has_every_pair() -> None:
    assert set(TABLE) == set(itertools.product(STATES, NEW))


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize(("current", "new"), sorted(TABLE))
def test_every_pair(current: str, new: str, variant: str, kind: Kind) -> None:
    cell = TABLE[(current, new)]
    expected = cell[variant] if isinstance(cell, dict) else cell
    current_department, department = VARIANTS[variant]
    args = dict(kind=kind, department=department, current_department=current_department)
    if expected == X:
        with pytest.raises(IllegalTransition) as info:
            move(current, new, reason_for(new, kind), **args)
        assert (info.value.current, info.value.new, info.value.kind) == (current, new, kind)
        assert f"a {kind.value} that is {current} cannot become {new}" in str(info.value)
        return
    t = move(current, new, reason_for(new, kind), **args)
    assert t.move is expected
    if expected in (R, S):
        assert t.new_status == current
        assert not t.transfer
    else:
        assert t.new_status == new
        assert t.transfer is (variant == "other")
    assert t.changes is (expected is not R)
    assert not t.reverses


def test_the_contract_message_for_a_move_after_resolution() -> None:
    # What the dead letter says (tests/e2e/test_thin_flow.py reads it).
    with pytest.raises(IllegalTransition, match="a report that is resolved cannot become dispatched"):
        move("resolved", "dispatched", department="环卫", current_department="环卫")


# ------------------------------------------------------------------ transfers


def test_a_transfer_keeps_the_status_and_moves_the_department() -> None:
    t = move("dispatched", "dispatched", department="D2", current_department="D1")
    assert t == Transition("dispatched", verifies=False, reverses=False, move=Move.TRANSFER, transfer=True)
    assert holder_after("D1", "D2") == "D2"


def test_an_accepting_department_hands_over_and_the_case_is_dispatched_again() -> None:
    t = move("accepted", "dispatched", department="D2", current_department="D1", verified=True)
    assert (t.new_status, t.move, t.transfer, t.verifies) == ("dispatched", Move.TRANSFER, True, False)


def test_two_transfers_then_resolution_earn_once() -> None:
    steps = [("dispatched", "D1"), ("dispatched", "D2"), ("accepted", "D2"), ("dispatched", "D3"), ("resolved", None)]
    status, holder, verified, earned, transfers = "submitted", None, False, 0, 0
    for new, dept in steps:
        t = move(status, new, department=dept, current_department=holder, verified=verified)
        status, holder = t.new_status, holder_after(holder, dept)
        earned += t.verifies
        verified = verified or t.verifies
        transfers += t.transfer
    assert (status, holder, earned, transfers) == ("resolved", "D3", 1, 2)


def test_a_step_naming_another_department_forward_is_a_transfer_too() -> None:
    t = move("dispatched", "accepted", department="D2", current_department="D1")
    assert (t.move, t.transfer, t.verifies) == (Move.ADVANCE, True, True)


@pytest.mark.parametrize("department", [None, "D1"])
def test_holder_after(department: str | None) -> None:
    assert holder_after("D1", None) == "D1"
    assert holder_after(None, department) == department


# ------------------------------------------------------------------ reopening


@pytest.mark.parametrize("reason", list(ReopenReason))
@pytest.mark.parametrize("kind", list(Kind))
def test_a_resolved_case_is_reopened_with_a_reason_and_earns_nothing(reason: ReopenReason, kind: Kind) -> None:
    t = move("resolved", "reopened", reason, kind=kind, verified=True)
    assert t == Transition("reopened", verifies=False, reverses=False, move=Move.REOPEN)


@pytest.mark.parametrize("reason", [None, "duplicate", "invalid", "cannot_help", "bad"])
def test_reopening_needs_a_reopen_reason(reason: str | None) -> None:
    with pytest.raises(IllegalTransition, match="reopening needs a reason"):
        move("resolved", "reopened", reason)


@pytest.mark.parametrize("new", ["accepted", "resolved"])
def test_after_reopening_nothing_more_is_earned(new: str) -> None:
    assert move("reopened", new, verified=True).verifies is False


def test_a_reopened_duplicate_still_earns_nothing() -> None:
    assert move("reopened", "resolved", verified=False, duplicate=True).verifies is False


def test_after_reopening_the_case_goes_on_as_from_dispatched() -> None:
    for new in ("dispatched", "accepted", "resolved", "rejected"):
        assert RANK.get(new, 9) >= RANK["dispatched"]
        assert move("reopened", new, reason_for(new, Kind.REPORT)).changes
    assert move("reopened", "dispatched", department="D1", current_department="D1").move is Move.ADVANCE


# ------------------------------------------------------------------ rejection and reversal


@pytest.mark.parametrize("current", OPEN)
@pytest.mark.parametrize("reason", list(RejectionReason))
@pytest.mark.parametrize(("verified", "duplicate"), FLAGS)
def test_a_report_is_rejected_from_any_open_state(current, reason, verified, duplicate) -> None:
    t = move(current, "rejected", reason, verified=verified, duplicate=duplicate)
    assert (t.new_status, t.move, t.verifies) == ("rejected", Move.REJECT, False)
    assert t.reverses is (verified and reason in REVERSING)


@pytest.mark.parametrize("reason", REVERSING)
@pytest.mark.parametrize("verified", [False, True])
def test_resolved_rejected_as_invalid_or_fraudulent_reverses_what_it_earned(reason, verified) -> None:
    assert move("resolved", "rejected", reason, verified=verified) == Transition(
        "rejected", verifies=False, reverses=verified, move=Move.REJECT
    )


@pytest.mark.parametrize("reason", NON_REVERSING)
def test_resolved_cannot_be_rejected_for_other_reasons(reason) -> None:
    with pytest.raises(IllegalTransition, match="invalid or fraudulent"):
        move("resolved", "rejected", reason, verified=True)


@pytest.mark.parametrize("reason", list(NeedRejectionReason))
@pytest.mark.parametrize("current", OPEN)
def test_a_need_is_rejected_with_its_own_reasons_and_never_reverses(reason, current) -> None:
    t = move(current, "rejected", reason, kind=Kind.NEED, verified=True)
    assert (t.new_status, t.reverses, t.verifies) == ("rejected", False, False)


@pytest.mark.parametrize("reason", list(NeedRejectionReason))
def test_a_resolved_need_cannot_be_rejected(reason) -> None:
    with pytest.raises(IllegalTransition):
        move("resolved", "rejected", reason, kind=Kind.NEED)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [(Kind.NEED, "invalid"), (Kind.NEED, "fraudulent"), (Kind.REPORT, "cannot_help"), (Kind.REPORT, None)],
)
def test_a_rejection_reason_of_the_other_kind_is_refused(kind: Kind, reason: str | None) -> None:
    with pytest.raises(IllegalTransition, match="cannot be rejected as"):
        move("dispatched", "rejected", reason, kind=kind)


@pytest.mark.parametrize("new", NEW)
@pytest.mark.parametrize("kind", list(Kind))
def test_rejected_is_final(new: str, kind: Kind) -> None:
    for reason in [None, *REASONS[kind], *ReopenReason]:
        with pytest.raises(IllegalTransition):
            move("rejected", new, reason, kind=kind, verified=True)


@pytest.mark.parametrize("new", ["submitted", "overdue", "", "RESOLVED"])
def test_a_status_the_platform_does_not_send_is_illegal(new: str) -> None:
    with pytest.raises(IllegalTransition, match="not a status"):
        move("dispatched", new)


def test_an_unknown_current_status_is_a_bug_not_an_event_problem() -> None:
    with pytest.raises(ValueError, match="unknown current status"):
        move("lost", "resolved")


# ------------------------------------------------------------------ verifies


@pytest.mark.parametrize("current", ["submitted", "dispatched"])
@pytest.mark.parametrize("new", ["accepted", "resolved"])
def test_first_time_at_accepted_or_resolved_verifies_a_report(current, new) -> None:
    assert move(current, new).verifies is True
    assert move(current, new, kind=Kind.NEED).verifies is False
    assert move(current, new, duplicate=True).verifies is False
    assert move(current, new, verified=True).verifies is False


@pytest.mark.parametrize(("verified", "duplicate"), FLAGS)
def test_dispatched_never_verifies(verified, duplicate) -> None:
    assert move("submitted", "dispatched", verified=verified, duplicate=duplicate).verifies is False


# ------------------------------------------------------------------ ratings


def test_the_first_rating_of_a_resolved_case_earns_the_point() -> None:
    assert rate("resolved", reopened=0, rated_round=None).record
    assert rate("resolved", reopened=0, rated_round=None).earns_point


def test_a_second_rating_of_the_same_resolution_is_ignored() -> None:
    r = rate("resolved", reopened=0, rated_round=0)
    assert (r.record, r.earns_point) == (False, False)
    assert r.why is not None and "rated already" in r.why


def test_after_reopening_and_resolving_again_it_may_be_rated_once_more_without_a_point() -> None:
    again = rate("resolved", reopened=1, rated_round=0)
    assert (again.record, again.earns_point) == (True, False)
    assert rate("resolved", reopened=1, rated_round=1).record is False


def test_a_case_never_rated_before_its_reopening_earns_the_point_at_its_first_rating() -> None:
    assert rate("resolved", reopened=2, rated_round=None).earns_point


@pytest.mark.parametrize("status", [s for s in STATES if s != "resolved"])
@pytest.mark.parametrize("kind", list(Kind))
def test_only_a_resolved_case_can_be_rated(status: str, kind: Kind) -> None:
    with pytest.raises(NotRateable) as info:
        rate(status, reopened=0, rated_round=None, kind=kind)
    assert info.value.code == "not_resolved"
    assert f"a {kind.value} that is {status} cannot be rated" == str(info.value)


# ------------------------------------------------------------------ properties over random sequences

DEPARTMENTS = st.sampled_from([None, "D1", "D2", "D3"])
STATUS_STEP = st.tuples(
    st.just("status"),
    st.sampled_from(NEW),
    st.sampled_from([None, *RejectionReason, *NeedRejectionReason, *ReopenReason]),
    DEPARTMENTS,
)
RATING_STEP = st.tuples(st.just("rating"), st.none(), st.none(), st.none())


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    duplicate=st.booleans(),
    steps=st.lists(st.one_of(STATUS_STEP, STATUS_STEP, RATING_STEP), max_size=30),
)
def test_random_sequences_keep_the_invariants(kind: Kind, duplicate: bool, steps: list) -> None:
    status, holder, verified, reversed_ = "submitted", None, False, False
    reopened, rated_round = 0, None
    verifies = reverses = points = ratings = 0
    for what, new, reason, department in steps:
        if what == "rating":
            try:
                r = rate(status, reopened=reopened, rated_round=rated_round, kind=kind)
            except NotRateable:
                assert status != "resolved"
                continue
            if r.record:
                ratings += 1
                points += r.earns_point
                rated_round = reopened
            continue
        before = (status, holder)
        try:
            t = transition(
                status,
                new,
                reason,
                verified=verified,
                duplicate=duplicate,
                kind=kind,
                department=department,
                current_department=holder,
            )
        except IllegalTransition:
            assert (status, holder) == before
            continue
        assert before[0] != "rejected", "rejected is final"
        if t.move is Move.REPEAT:
            assert t.new_status == status
            continue
        # The status never moves back, except by reopening or handing the case to another department.
        if t.new_status != "rejected" and status != "rejected":
            went_back = RANK[t.new_status] < RANK[status]
            assert not went_back or t.move in (Move.TRANSFER, Move.REOPEN)
        if t.move is Move.REOPEN:
            assert status == "resolved"
            reopened += 1
        if t.move is Move.TRANSFER:
            assert department is not None and department != holder
        if t.reverses:
            assert verified and not reversed_ and kind is Kind.REPORT
            reversed_ = True
            reverses += 1
        if t.verifies:
            assert kind is Kind.REPORT and not duplicate
            verifies += 1
            verified = True
        status, holder = t.new_status, holder_after(holder, department)
    assert verifies <= 1, "a case earns at most once"
    assert reverses <= verifies
    assert points <= 1, "the rating point at most once"
    assert ratings <= reopened + 1, "one rating per resolution"
    if kind is Kind.NEED or duplicate:
        assert verifies == 0
