"""The state machine of a case (a report or a rider's need): pure rules, no I/O.

    submitted -> dispatched -> accepted -> resolved -> reopened -> (as from dispatched)
    rejected, with a reason, from any open state (and from resolved: a report found invalid or fraudulent)
    a transfer: dispatched (or accepted) again, naming another department

- Forward: a status may be skipped (a department may accept what was never dispatched), never moved
  back, except by the two moves below.
- Transfer: `dispatched` naming another department than the one holding the case hands it over,
  from `dispatched` or from `accepted` (the accepting department found it is another's job: the
  case is dispatched again). Any step naming another department moves the case to it; the step is
  then a transfer (`Transition.transfer`), and the history keeps every department.
- Reopen: a `resolved` case may be `reopened` with a reason; it is open again and its next statuses
  are those from `dispatched` (a `dispatched` after it is a re-dispatch, to the same department or
  another). It earns nothing more.
- Repeat: the current status again, naming the same department or none, is no move at all: the
  caller ignores it (a platform re-sending a step is not an error). The current status again naming
  a department for a case that had none assigns it.
- Final: `rejected` is final. `resolved` is final but for reopening and, for a report, a later
  rejection as `invalid` or `fraudulent` (fraud found after the fact): that reverses its points.
- Earning (reports only): the first time at `accepted` or `resolved`, unless a duplicate, a report
  verifies (earns). A need earns nothing by its status; rating it earns the rating point (`rate`).

Anything else raises `IllegalTransition`: only a truly illegal move is dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from incentives_kernel.events import CaseState, NeedRejectionReason, RejectionReason, ReopenReason


class Kind(StrEnum):
    REPORT = "report"
    NEED = "need"


class Move(StrEnum):
    ADVANCE = "advance"  # to a later status (or dispatched again after a reopening)
    TRANSFER = "transfer"  # the same or an earlier open status, with another department
    REJECT = "reject"
    REOPEN = "reopen"
    ASSIGN = "assign"  # the same status, naming the first department of a case that had none
    REPEAT = "repeat"  # no change: the caller ignores it


SUBMITTED = CaseState.SUBMITTED.value
DISPATCHED = CaseState.DISPATCHED.value
ACCEPTED = CaseState.ACCEPTED.value
RESOLVED = CaseState.RESOLVED.value
REJECTED = CaseState.REJECTED.value
REOPENED = CaseState.REOPENED.value

STATES = tuple(s.value for s in CaseState)
OPEN = frozenset({SUBMITTED, DISPATCHED, ACCEPTED, REOPENED})
CLOSED = frozenset({RESOLVED, REJECTED})
# A reopened case goes on as from dispatched.
RANK = {SUBMITTED: 0, DISPATCHED: 1, REOPENED: 1, ACCEPTED: 2, RESOLVED: 3}
EARNING = frozenset({ACCEPTED, RESOLVED})
REVERSING_REASONS = frozenset({RejectionReason.INVALID.value, RejectionReason.FRAUDULENT.value})
REJECTION_REASONS: dict[Kind, frozenset[str]] = {
    Kind.REPORT: frozenset(r.value for r in RejectionReason),
    Kind.NEED: frozenset(r.value for r in NeedRejectionReason),
}
REOPEN_REASONS = frozenset(r.value for r in ReopenReason)


class IllegalTransition(Exception):
    """A move the rules never allow (the event is dead-lettered with this message)."""

    def __init__(self, current: str, new: str, kind: Kind = Kind.REPORT, why: str | None = None) -> None:
        message = f"a {kind.value} that is {current} cannot become {new}"
        super().__init__(f"{message}: {why}" if why else message)
        self.current = current
        self.new = new
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Transition:
    new_status: str
    verifies: bool  # first time at accepted/resolved, a report, not a duplicate: it earns
    reverses: bool  # a report rejected as invalid/fraudulent after it had earned
    move: Move = Move.ADVANCE
    transfer: bool = False  # the step hands the case from one department to another

    @property
    def changes(self) -> bool:
        """False for a repeat: nothing to record, nobody to tell."""
        return self.move is not Move.REPEAT


def transition(
    current: str,
    new: str,
    reason: str | None,
    *,
    verified: bool,
    duplicate: bool,
    kind: Kind = Kind.REPORT,
    department: str | None = None,
    current_department: str | None = None,
) -> Transition:
    """Decide a status change of a case that is `current` and held by `current_department` (None:
    no department yet), to `new` naming `department` (None: none named); or raise `IllegalTransition`.

    `verified`: the report already earned; `duplicate`: it can never earn. `reason` is the event's
    reason (a rejection or reopen reason; ignored with other statuses).
    """
    new = str(new)
    if current not in STATES:
        raise ValueError(f"unknown current status {current!r}")
    if new not in STATES or new == SUBMITTED:
        raise IllegalTransition(current, new, kind, "not a status the dispatch platform sends")
    # Naming a department other than the holder's moves the case to it: from one department to
    # another, that is a transfer; to the first department it gets, an assignment.
    moves_department = department is not None and department != current_department
    transfer = moves_department and current_department is not None
    # The reason vocabulary is checked by the event models; checked again here so that the rules
    # never run on a reason the contract does not allow for this kind.
    if new == REJECTED and (reason is None or str(reason) not in REJECTION_REASONS[kind]):
        raise IllegalTransition(current, new, kind, f"a {kind.value} cannot be rejected as {reason}")
    if new == REOPENED and (reason is None or str(reason) not in REOPEN_REASONS):
        raise IllegalTransition(current, new, kind, f"reopening needs a reason, not {reason}")

    if current == REJECTED:
        raise IllegalTransition(current, new, kind, "rejected is final")
    if new == REJECTED:
        if current == RESOLVED and not (kind is Kind.REPORT and str(reason) in REVERSING_REASONS):
            raise IllegalTransition(
                current, new, kind, "a resolved case is rejected only when found invalid or fraudulent"
            )
        reverses = kind is Kind.REPORT and verified and str(reason) in REVERSING_REASONS
        return Transition(REJECTED, verifies=False, reverses=reverses, move=Move.REJECT, transfer=transfer)
    if new == current:
        if not moves_department:
            return Transition(current, verifies=False, reverses=False, move=Move.REPEAT)
        if not transfer:
            return Transition(current, verifies=False, reverses=False, move=Move.ASSIGN)
        if current in OPEN:
            return Transition(current, verifies=False, reverses=False, move=Move.TRANSFER, transfer=True)
        raise IllegalTransition(current, new, kind, "a resolved case must be reopened before it changes department")
    if current == RESOLVED:
        if new == REOPENED:
            return Transition(REOPENED, verifies=False, reverses=False, move=Move.REOPEN, transfer=transfer)
        raise IllegalTransition(current, new, kind, "a resolved case must be reopened first")
    if new == REOPENED:
        raise IllegalTransition(current, new, kind, "only a resolved case can be reopened")
    if new == DISPATCHED and current == REOPENED:
        return Transition(DISPATCHED, verifies=False, reverses=False, move=Move.ADVANCE, transfer=transfer)
    if RANK[new] > RANK[current]:
        verifies = kind is Kind.REPORT and new in EARNING and not verified and not duplicate
        return Transition(new, verifies=verifies, reverses=False, move=Move.ADVANCE, transfer=transfer)
    # accepted -> dispatched: only as a hand-over to another department (the case is dispatched again).
    if moves_department and new == DISPATCHED:
        return Transition(DISPATCHED, verifies=False, reverses=False, move=Move.TRANSFER, transfer=transfer)
    raise IllegalTransition(current, new, kind, "the status never moves back")


def holder_after(current_department: str | None, department: str | None) -> str | None:
    """The department holding a case after a step that names `department` (None: unchanged)."""
    return department if department is not None else current_department


# ---------------------------------------------------------------------------------------------- ratings


class NotRateable(Exception):
    """A rating the rules refuse (dead-lettered with `code`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Rating:
    """What a rating does: `record` it (else it is ignored, with `why`), and whether it `earns_point`."""

    record: bool
    earns_point: bool
    why: str | None = None


def rate(status: str, *, reopened: int, rated_round: int | None, kind: Kind = Kind.REPORT) -> Rating:
    """Decide a rating by the asker of a case that is `status`, reopened `reopened` times so far, whose
    latest rating was given in round `rated_round` (the reopen count then; None: never rated).

    Each resolution may be rated once: the first rating earns the rating point; a case resolved again
    after a reopening may be rated once more, which is recorded (and counts for the department) but
    earns no second point. A rating of a case that is not resolved raises `NotRateable`.
    """
    if status != RESOLVED:
        raise NotRateable("not_resolved", f"a {kind.value} that is {status} cannot be rated")
    if rated_round is not None and rated_round >= reopened:
        return Rating(
            record=False,
            earns_point=False,
            why=f"this {kind.value} was rated already; only the first rating of each resolution counts",
        )
    return Rating(record=True, earns_point=rated_round is None)
