"""The report state machine: forward only, rejected from open states, earning and reversing flags."""

from __future__ import annotations

import itertools

import pytest
from incentives_kernel.events import RejectionReason, ReportStatus
from reports.lifecycle import IllegalTransition, Transition, transition

OPEN = ["submitted", "dispatched", "accepted"]
ORDERED = ["submitted", "dispatched", "accepted", "resolved"]
FORWARD = [ReportStatus.DISPATCHED, ReportStatus.ACCEPTED, ReportStatus.RESOLVED]
REVERSING = [RejectionReason.INVALID, RejectionReason.FRAUDULENT]
NON_REVERSING = [RejectionReason.DUPLICATE, RejectionReason.OUT_OF_SCOPE]
FLAGS = list(itertools.product([False, True], [False, True]))  # (verified, duplicate)


def move(current: str, new: ReportStatus, reason: RejectionReason | None = None, **flags: bool) -> Transition:
    return transition(
        current, new, reason, verified=flags.get("verified", False), duplicate=flags.get("duplicate", False)
    )


# ------------------------------------------------------------------ forward moves


@pytest.mark.parametrize(
    ("current", "new"),
    [(c, n) for c, n in itertools.product(ORDERED, FORWARD) if ORDERED.index(c) < ORDERED.index(n.value)],
)
def test_every_forward_move_is_legal(current, new) -> None:
    assert move(current, new).new_status == new.value


def test_the_full_path() -> None:
    t1 = move("submitted", ReportStatus.DISPATCHED)
    t2 = move(t1.new_status, ReportStatus.ACCEPTED)
    t3 = move(t2.new_status, ReportStatus.RESOLVED, verified=t2.verifies)
    assert [t1.new_status, t2.new_status, t3.new_status] == ["dispatched", "accepted", "resolved"]
    assert [t1.verifies, t2.verifies, t3.verifies] == [False, True, False]
    assert not any(t.reverses for t in (t1, t2, t3))


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("submitted", ReportStatus.ACCEPTED),
        ("submitted", ReportStatus.RESOLVED),
        ("dispatched", ReportStatus.RESOLVED),
    ],
)
def test_skipping_forward_is_legal(current, new) -> None:
    assert move(current, new) == Transition(new.value, verifies=True, reverses=False)


@pytest.mark.parametrize(
    ("current", "new"),
    [(c, n) for c, n in itertools.product(ORDERED, FORWARD) if ORDERED.index(c) >= ORDERED.index(n.value)],
)
@pytest.mark.parametrize(("verified", "duplicate"), FLAGS)
def test_backwards_and_same_status_are_illegal(current, new, verified, duplicate) -> None:
    with pytest.raises(IllegalTransition) as info:
        move(current, new, verified=verified, duplicate=duplicate)
    assert info.value.current == current
    assert info.value.new == new.value
    assert current in str(info.value)
    assert new.value in str(info.value)


# ------------------------------------------------------------------ final states


@pytest.mark.parametrize("new", list(ReportStatus))
@pytest.mark.parametrize("reason", [None, *RejectionReason])
@pytest.mark.parametrize(("verified", "duplicate"), FLAGS)
def test_rejected_is_final(new, reason, verified, duplicate) -> None:
    with pytest.raises(IllegalTransition):
        move("rejected", new, reason, verified=verified, duplicate=duplicate)


@pytest.mark.parametrize("new", FORWARD)
def test_resolved_cannot_move_on(new) -> None:
    with pytest.raises(IllegalTransition):
        move("resolved", new, verified=True)


@pytest.mark.parametrize("reason", [None, *NON_REVERSING])
@pytest.mark.parametrize("verified", [False, True])
def test_resolved_cannot_be_rejected_for_other_reasons(reason, verified) -> None:
    with pytest.raises(IllegalTransition):
        move("resolved", ReportStatus.REJECTED, reason, verified=verified)


@pytest.mark.parametrize("reason", REVERSING)
def test_resolved_rejected_as_invalid_or_fraudulent_reverses_what_it_earned(reason) -> None:
    assert move("resolved", ReportStatus.REJECTED, reason, verified=True) == Transition(
        "rejected", verifies=False, reverses=True
    )


@pytest.mark.parametrize("reason", REVERSING)
def test_resolved_duplicate_rejected_later_reverses_nothing(reason) -> None:
    # a duplicate never earned, so there is nothing to reverse
    assert move("resolved", ReportStatus.REJECTED, reason, verified=False, duplicate=True) == Transition(
        "rejected", verifies=False, reverses=False
    )


# ------------------------------------------------------------------ rejection from open states


@pytest.mark.parametrize("current", OPEN)
@pytest.mark.parametrize("reason", list(RejectionReason))
@pytest.mark.parametrize(("verified", "duplicate"), FLAGS)
def test_rejected_from_any_open_state(current, reason, verified, duplicate) -> None:
    t = move(current, ReportStatus.REJECTED, reason, verified=verified, duplicate=duplicate)
    assert t.new_status == "rejected"
    assert t.verifies is False
    assert t.reverses is (verified and reason in REVERSING)


@pytest.mark.parametrize("current", OPEN)
@pytest.mark.parametrize("reason", REVERSING)
def test_reverses_only_after_verified(current, reason) -> None:
    assert move(current, ReportStatus.REJECTED, reason, verified=True).reverses is True
    assert move(current, ReportStatus.REJECTED, reason, verified=False).reverses is False


@pytest.mark.parametrize("current", OPEN)
@pytest.mark.parametrize("reason", NON_REVERSING)
def test_duplicate_or_out_of_scope_never_reverse(current, reason) -> None:
    assert move(current, ReportStatus.REJECTED, reason, verified=True).reverses is False


# ------------------------------------------------------------------ verifies


@pytest.mark.parametrize("current", ["submitted", "dispatched"])
@pytest.mark.parametrize("new", [ReportStatus.ACCEPTED, ReportStatus.RESOLVED])
def test_first_time_at_accepted_or_resolved_verifies(current, new) -> None:
    assert move(current, new).verifies is True


@pytest.mark.parametrize("duplicate", [False, True])
@pytest.mark.parametrize("verified", [False, True])
def test_dispatched_never_verifies(verified, duplicate) -> None:
    assert move("submitted", ReportStatus.DISPATCHED, verified=verified, duplicate=duplicate).verifies is False


def test_resolved_after_accepted_does_not_verify_twice() -> None:
    assert move("accepted", ReportStatus.RESOLVED, verified=True).verifies is False


@pytest.mark.parametrize("current", ["submitted", "dispatched", "accepted"])
def test_resolved_verifies_when_accepted_never_did(current) -> None:
    # e.g. the accepted step earned nothing because the report was not yet verified
    assert move(current, ReportStatus.RESOLVED, verified=False).verifies is True


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("submitted", ReportStatus.ACCEPTED),
        ("submitted", ReportStatus.RESOLVED),
        ("dispatched", ReportStatus.ACCEPTED),
        ("accepted", ReportStatus.RESOLVED),
    ],
)
def test_duplicates_never_verify(current, new) -> None:
    assert move(current, new, duplicate=True).verifies is False


def test_forward_moves_never_reverse() -> None:
    for (current, new), (verified, duplicate) in itertools.product(
        [(c, n) for c, n in itertools.product(ORDERED, FORWARD) if ORDERED.index(c) < ORDERED.index(n.value)], FLAGS
    ):
        assert move(current, new, verified=verified, duplicate=duplicate).reverses is False
