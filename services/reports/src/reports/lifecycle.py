"""The report state machine: pure rules, no I/O.

submitted -> dispatched -> accepted -> resolved, and rejected (with a reason) from any open
state. A status may be skipped forward (a department may accept what was never dispatched), never
moved back. Rejected is final. Resolved is final too, except that fraud or invalidity found later
may still reject it as invalid or fraudulent: that is what reverses the points it earned.
"""

from __future__ import annotations

from dataclasses import dataclass

from incentives_kernel.events import RejectionReason, ReportStatus

SUBMITTED = "submitted"
ORDER = {SUBMITTED: 0, "dispatched": 1, "accepted": 2, "resolved": 3}
FINAL = frozenset({"resolved", "rejected"})
EARNING = frozenset({"accepted", "resolved"})
REVERSING_REASONS = frozenset({RejectionReason.INVALID, RejectionReason.FRAUDULENT})


class IllegalTransition(Exception):
    def __init__(self, current: str, new: str) -> None:
        super().__init__(f"a report that is {current} cannot become {new}")
        self.current = current
        self.new = new


@dataclass(frozen=True, slots=True)
class Transition:
    new_status: str
    verifies: bool  # first time at accepted/resolved, not a duplicate: it earns
    reverses: bool  # rejected as invalid/fraudulent after it had earned


def transition(
    current: str, new: ReportStatus, reason: RejectionReason | None, *, verified: bool, duplicate: bool
) -> Transition:
    """Decide a status change, or raise `IllegalTransition`."""
    if current == "resolved" and new is ReportStatus.REJECTED and reason in REVERSING_REASONS:
        return Transition("rejected", verifies=False, reverses=verified)
    if current in FINAL:
        raise IllegalTransition(current, new.value)
    if new is ReportStatus.REJECTED:
        return Transition("rejected", verifies=False, reverses=verified and reason in REVERSING_REASONS)
    if ORDER[new.value] <= ORDER[current]:
        raise IllegalTransition(current, new.value)
    return Transition(new.value, verifies=new.value in EARNING and not verified and not duplicate, reverses=False)
