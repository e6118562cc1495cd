"""The state machines of rewards: redemptions, the holds rewards asks points for, applications.

Pure rules, no I/O (as reports' lifecycle.py is); saga.py and rounds.py carry out what these decide.

- A redemption's `status` (the contract's): pending -> confirmed | rejected; confirmed -> fulfilled |
  cancelled. Its saga `step` says where a pending one is: requested -> hold_requested ->
  capture_requested -> done.
- A hold, as points last said it was: requested -> pending | rejected | released; pending ->
  captured | released | expired; captured -> refunded. A reply that says a state the hold has, or
  cannot reach from where it is, is stale and changes nothing (replies may arrive late or twice).
- An allocation round: open -> closing (waiting, bounded, for the last holds) -> closed; open -> closed
  when no hold is in flight. A closed round's result: provisional (the public notice) -> final, or
  final at once when the reward has no notice.
- An application in an allocation round: pending (hold asked) -> held -> winning (capture asked) ->
  won; lost, forfeited or cancelled on the way; a lost one may be offered a place that fell free; a
  winner may be disqualified during the notice.

rounds.py asks these tables before it moves a round or an application (`round_moves`,
`application_may_move`, `check_disqualification`); a move they refuse is the API's 409.
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


class ResultStatus(StrEnum):
    """A closed round's result (`result_status`): changeable during the public notice, then final."""

    PROVISIONAL = "provisional"
    FINAL = "final"


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


# ---------------------------------------------------------------- allocation rounds and their results

ROUND_MOVES: dict[RoundStatus, frozenset[RoundStatus]] = {
    RoundStatus.OPEN: frozenset({RoundStatus.CLOSING, RoundStatus.CLOSED}),
    RoundStatus.CLOSING: frozenset({RoundStatus.CLOSED}),
}
# A round's result: none while it is open or closing; set at the close; final once the notice ends.
RESULT_MOVES: dict[ResultStatus | None, frozenset[ResultStatus]] = {
    None: frozenset({ResultStatus.PROVISIONAL, ResultStatus.FINAL}),
    ResultStatus.PROVISIONAL: frozenset({ResultStatus.FINAL}),
}


class IllegalRoundMove(Exception):
    def __init__(self, current: str, new: RoundStatus) -> None:
        super().__init__(f"a {current} round cannot become {new}")
        self.current = current
        self.new = new


def round_moves(current: str, new: RoundStatus) -> bool:
    """Whether a round that is `current` moves to `new`: False when it is there already (closing a closed
    round again answers it as it is); `IllegalRoundMove` when it cannot get there from where it is."""
    if current == new:
        return False
    if new not in ROUND_MOVES.get(RoundStatus(current), frozenset()):
        raise IllegalRoundMove(current, new)
    return True


def takes_applications(round_status: str) -> bool:
    """Only an open round takes applications (its window is checked beside this)."""
    return round_status == RoundStatus.OPEN


def result_at_close(notice_days: int) -> ResultStatus:
    """A result is provisional for the reward's notice days; with none it is final at once."""
    return ResultStatus.PROVISIONAL if notice_days else ResultStatus.FINAL


def result_may_move(current: str | None, new: ResultStatus) -> bool:
    return new in RESULT_MOVES.get(ResultStatus(current) if current else None, frozenset())


# ---------------------------------------------------------------- applications: which status follows which

# Where an application starts: its cost asked of points, or (an award, nothing to hold) standing at once.
APPLICATION_STARTS = frozenset({ApplicationStatus.PENDING, ApplicationStatus.HELD})
APPLICATION_MOVES: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    ApplicationStatus.PENDING: frozenset({ApplicationStatus.HELD, ApplicationStatus.LOST}),
    ApplicationStatus.HELD: frozenset({ApplicationStatus.WINNING, ApplicationStatus.LOST}),
    ApplicationStatus.WINNING: frozenset({ApplicationStatus.WON, ApplicationStatus.FORFEITED}),
    ApplicationStatus.WON: frozenset({ApplicationStatus.CANCELLED, ApplicationStatus.DISQUALIFIED}),
    # A place fell free: offered (its cost asked again), or an award's place theirs at once (winning).
    ApplicationStatus.LOST: frozenset({ApplicationStatus.OFFERED, ApplicationStatus.WINNING}),
    ApplicationStatus.OFFERED: frozenset(
        {ApplicationStatus.WINNING, ApplicationStatus.LOST, ApplicationStatus.FORFEITED}
    ),
}
# `rejected` is allowed by the table's CHECK but never entered: a refused hold makes an application lost.

# A place is held by these; these gave a place up or had it taken away (the notice and verify-round read them).
HOLDS_PLACE = frozenset({ApplicationStatus.WON, ApplicationStatus.WINNING, ApplicationStatus.OFFERED})
WITHDRAWN = frozenset({ApplicationStatus.CANCELLED, ApplicationStatus.FORFEITED})
VACATED = WITHDRAWN | {ApplicationStatus.DISQUALIFIED}
PAYING = frozenset({ApplicationStatus.WINNING, ApplicationStatus.OFFERED})  # a capture of its points in flight


def application_may_move(current: str, new: ApplicationStatus) -> bool:
    return new in APPLICATION_MOVES.get(ApplicationStatus(current), frozenset())


class IllegalApplicationMove(Exception):
    def __init__(self, current: str, new: ApplicationStatus) -> None:
        super().__init__(f"a {current} application cannot become {new}")
        self.current = current
        self.new = new


def moves_into(new: ApplicationStatus) -> frozenset[ApplicationStatus]:
    """The statuses an application may be in to move to `new`."""
    return frozenset(s for s, nexts in APPLICATION_MOVES.items() if new in nexts)


class Refused(Exception):
    """An operator's move the state machine does not allow now; `code` is the API's 409 code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_notice(round_id: str, round_status: str, result_status: str | None) -> None:
    """Only a provisional result (during the public notice) may change; `Refused` otherwise."""
    if result_status != ResultStatus.PROVISIONAL:
        state = result_status or round_status
        raise Refused("not_in_notice", f"round {round_id} is {state}: only a provisional result can change")


def check_disqualification(round_id: str, member_id: str, status: str) -> None:
    """Only a winner holding the place may be disqualified; `Refused` with the reason otherwise."""
    if application_may_move(status, ApplicationStatus.DISQUALIFIED):
        return
    if status in PAYING:
        raise Refused("payment_in_progress", f"{member_id}'s place is being paid for: try again in a moment")
    raise Refused("not_a_winner", f"{member_id} holds no place in round {round_id} ({status})")
