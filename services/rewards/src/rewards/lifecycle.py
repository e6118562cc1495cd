"""The state machines of rewards: redemptions, the holds rewards asks points for, applications.

Pure rules, no I/O (as reports' lifecycle.py is); saga.py and rounds.py carry out what these decide.

- A redemption's `status` (the contract's): pending -> confirmed | rejected; confirmed -> fulfilled |
  cancelled. Its saga `step` says where a pending one is: requested -> hold_requested ->
  capture_requested -> done.
- A hold, as points last said it was: requested -> pending | rejected | released; pending ->
  captured | released | expired; captured -> refunded. A reply that says a state the hold has, or
  cannot reach from where it is, is stale and changes nothing (replies may arrive late or twice).
- An application in an allocation round: pending (hold asked) -> held -> winning (capture asked) ->
  won; lost, forfeited or cancelled on the way; a lost one may be offered a place that fell free.
"""

from __future__ import annotations

from enum import StrEnum


class RedemptionStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # Version 2: the voucher was not redeemed in time


class Step(StrEnum):
    """Where a redemption's saga is."""

    REQUESTED = "requested"
    HOLD_REQUESTED = "hold_requested"
    CAPTURE_REQUESTED = "capture_requested"
    DONE = "done"


class HoldStatus(StrEnum):
    """A hold's state as points last said it (`status`), or as rewards last asked for it (`wanted`)."""

    REQUESTED = "requested"
    PENDING = "pending"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    REJECTED = "rejected"


class Said(StrEnum):
    """What a reply of points says happened to a hold."""

    PLACED = "placed"
    REJECTED = "rejected"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    REFUSED = "refused"  # the command was refused: the hold itself did not change


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    HELD = "held"
    REJECTED = "rejected"
    WINNING = "winning"
    WON = "won"
    LOST = "lost"
    OFFERED = "offered"
    FORFEITED = "forfeited"
    CANCELLED = "cancelled"
    DISQUALIFIED = "disqualified"


class RoundStatus(StrEnum):
    OPEN = "open"
    CLOSING = "closing"  # no new applications; waiting (bounded) for points to answer the last holds
    CLOSED = "closed"


# ---------------------------------------------------------------- holds: points' replies

# Points' reply type -> what it says happened.
SAID: dict[str, Said] = {
    "points.hold_placed": Said.PLACED,
    "points.hold_rejected": Said.REJECTED,
    "points.hold_captured": Said.CAPTURED,
    "points.hold_released": Said.RELEASED,
    "points.hold_expired": Said.EXPIRED,
    "points.hold_refunded": Said.REFUNDED,
    "points.hold_command_refused": Said.REFUSED,
}
# What each reply makes of the hold (a refusal changes nothing).
HOLD_STATE: dict[Said, HoldStatus] = {
    Said.PLACED: HoldStatus.PENDING,
    Said.REJECTED: HoldStatus.REJECTED,
    Said.CAPTURED: HoldStatus.CAPTURED,
    Said.RELEASED: HoldStatus.RELEASED,
    Said.EXPIRED: HoldStatus.EXPIRED,
    Said.REFUNDED: HoldStatus.REFUNDED,
}
HOLD_MOVES: dict[HoldStatus, frozenset[HoldStatus]] = {
    HoldStatus.REQUESTED: frozenset({HoldStatus.PENDING, HoldStatus.REJECTED, HoldStatus.RELEASED}),
    HoldStatus.PENDING: frozenset({HoldStatus.CAPTURED, HoldStatus.RELEASED, HoldStatus.EXPIRED}),
    HoldStatus.CAPTURED: frozenset({HoldStatus.REFUNDED}),
}


class StaleReply(Exception):
    """A reply that changes nothing: the hold is in that state already, or past it."""


def hold_after(status: str, said: Said) -> HoldStatus | None:
    """The hold's state after points said `said` (None: a refusal, the hold unchanged); `StaleReply` if stale."""
    if said is Said.REFUSED:
        return None
    state = HOLD_STATE[said]
    if state == status:
        raise StaleReply(f"hold is {state} already")
    if state not in HOLD_MOVES.get(HoldStatus(status), frozenset()):
        raise StaleReply(f"stale: hold is {status}, reply says {state}")
    return state


# ---------------------------------------------------------------- redemptions

REDEMPTION_MOVES: dict[RedemptionStatus, frozenset[RedemptionStatus]] = {
    RedemptionStatus.PENDING: frozenset({RedemptionStatus.CONFIRMED, RedemptionStatus.REJECTED}),
    RedemptionStatus.CONFIRMED: frozenset(
        {RedemptionStatus.FULFILLED, RedemptionStatus.CANCELLED, RedemptionStatus.EXPIRED}
    ),
}
# The 409 code of an operator's or member's move the redemption's status does not allow.
REFUSED_AS = {RedemptionStatus.CANCELLED: "not_cancellable", RedemptionStatus.FULFILLED: "not_fulfillable"}


class IllegalMove(Exception):
    def __init__(self, current: str, new: RedemptionStatus) -> None:
        verb = {RedemptionStatus.CANCELLED: "cancelled", RedemptionStatus.FULFILLED: "fulfilled"}.get(new, new.value)
        super().__init__(f"a {current} redemption cannot be {verb}")
        self.code = REFUSED_AS.get(new, "illegal_transition")
        self.current = current
        self.new = new


def redemption_moves(current: str, new: RedemptionStatus) -> bool:
    """Whether a redemption that is `current` moves to `new`: False when it is there already (asking
    again changes nothing); `IllegalMove` when it cannot get there from where it is."""
    if current == new:
        return False
    if new not in REDEMPTION_MOVES.get(RedemptionStatus(current), frozenset()):
        raise IllegalMove(current, new)
    return True


class RedemptionNext(StrEnum):
    """What the saga does after points answered a redemption's hold (the value is what it logs)."""

    CAPTURE = "capture requested"
    RELEASE_LATE_HOLD = "late hold released"
    CONFIRM = "confirmed"
    REFUND_UNEXPECTED_CAPTURE = "unexpected capture refunded"
    REJECT = "rejected"
    TIME_OUT = "timed out"
    NOTHING = "recorded"


def redemption_after_hold(said: Said, *, status: str, step: str, wanted: str) -> RedemptionNext:
    """Decide the saga's next move on a redemption that is `status` at `step`, its hold `wanted` so."""
    waiting = status == RedemptionStatus.PENDING
    if said is Said.PLACED:
        if waiting and step == Step.HOLD_REQUESTED:
            return RedemptionNext.CAPTURE
        if wanted == HoldStatus.PENDING:  # given up meanwhile (timed out): the points go back
            return RedemptionNext.RELEASE_LATE_HOLD
    elif said is Said.CAPTURED:
        if waiting:
            return RedemptionNext.CONFIRM
        if wanted != HoldStatus.REFUNDED:  # never expected: a capture for a redemption not waiting; pay back
            return RedemptionNext.REFUND_UNEXPECTED_CAPTURE
    elif said is Said.REJECTED and waiting:
        return RedemptionNext.REJECT
    elif said in (Said.EXPIRED, Said.REFUSED) and waiting:
        return RedemptionNext.TIME_OUT
    return RedemptionNext.NOTHING


# ---------------------------------------------------------------- applications in allocation rounds


class ApplicationNext(StrEnum):
    """What a round does after points answered an application's hold (the value is what it logs)."""

    HOLD = "held"
    ACCEPT_OFFER = "offer accepted: capture requested"
    RELEASE_LATE_HOLD = "late hold released"
    LOSE_UNPAID = "hold rejected"
    PASS_OVER = "offer declined by points: passed on"  # noqa: S105 (a log text, not a secret)
    WIN = "won"
    LOSE_EXPIRED = "hold expired"
    FORFEIT = "forfeited: passed on"
    NOTHING = "recorded"


def application_after_hold(said: Said, *, status: str, current: bool, round_open: bool, wanted: str) -> ApplicationNext:
    """Decide a round's next move on an application that is `status`; `current`: the reply is about the
    application's hold now (not one an earlier offer left behind), `round_open`: it takes applications."""
    s = status if current else None
    if said is Said.PLACED:
        if s == ApplicationStatus.PENDING and round_open:
            return ApplicationNext.HOLD
        if s == ApplicationStatus.OFFERED:
            return ApplicationNext.ACCEPT_OFFER
        if wanted == HoldStatus.PENDING:
            return ApplicationNext.RELEASE_LATE_HOLD
    elif said is Said.REJECTED:
        if s == ApplicationStatus.PENDING:
            return ApplicationNext.LOSE_UNPAID
        if s == ApplicationStatus.OFFERED:  # cannot pay for the place now: the next one in line gets the offer
            return ApplicationNext.PASS_OVER
    elif said is Said.CAPTURED and s == ApplicationStatus.WINNING:
        return ApplicationNext.WIN
    elif said in (Said.EXPIRED, Said.REFUSED):
        if s == ApplicationStatus.HELD:  # the round was not closed in time to use the hold
            return ApplicationNext.LOSE_EXPIRED
        if s in (ApplicationStatus.WINNING, ApplicationStatus.OFFERED):
            return ApplicationNext.FORFEIT
    return ApplicationNext.NOTHING
