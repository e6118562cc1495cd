"""Allocation rounds: apply with the cost held, rank at close, winners pay, the place passes on if given up.

The close runs in one transaction: it freezes every applicant's figures (star level, points earned
in the 365 days up to the close's business day, application time), ranks them (allocation.rank),
stores ranking, seed and digest, asks points to capture the winners' holds and to release the
others'. A winner's allocation.won waits for the capture, so a voucher always means points paid.

A close never punishes an applicant for the system's own lag: while points has not answered an
application's hold (its reply may be on its way), the round is `closing` (no new applications) and
the close is retried by the job until every hold is answered, for at most `close_wait_s`; only a
hold still unanswered then loses (`hold_unconfirmed`, its hold released).

An award (an allocation reward costing 0 points) holds nothing: an application is `held` at once, a
winner wins at the close. After the close the result is `provisional` for the reward's `notice_days`
(the public notice): an operator may disqualify a winner with a reason and the place passes on to the
next in line; then the job makes it `final`.

Not here: the ranking and its digest (allocation.py, pure), who may apply (eligibility.py), which
status may follow which (lifecycle.py), voucher codes (vouchers.py), what becomes of a winner's
redemption afterwards (saga.py), SQL (repository.py), the HTTP routes (rounds_api.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from incentives_kernel import standing
from incentives_kernel.db import Conn, Row
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.errors import Conflict, NotFound
from incentives_kernel.events import AllocationDisqualified, AllocationLost, AllocationWon
from incentives_kernel.logging import redact_text
from incentives_kernel.outcome import UnitOfWork
from incentives_kernel.uow import Work

from . import allocation, eligibility, lifecycle, saga, vouchers
from . import repository as repo
from .lifecycle import ApplicationNext, ApplicationStatus, RedemptionStatus, ResultStatus, RoundStatus, Said, Step
from .saga import Deps

MAX_HOLD_S = 30 * 24 * 3600  # points keeps a hold at most 30 days


def hold_ttl(closes_at: datetime, now: datetime, deps: Deps) -> int:
    return min(MAX_HOLD_S, int((closes_at - now).total_seconds()) + deps.settings.application_hold_grace_s)


async def open_round(
    uow: UnitOfWork,
    *,
    round_id: str,
    reward_id: str,
    quota: int,
    opens_at: datetime,
    closes_at: datetime,
    seed: str | None,
    by: str,
    deps: Deps,
) -> Row:
    conn = uow.conn
    reward = await repo.get_reward(conn, reward_id)
    if reward is None:
        raise NotFound(f"no reward {reward_id}")
    if reward["kind"] != "allocation":
        raise Conflict("not_allocation", f"reward {reward_id} is redeemed directly, not allocated in rounds")
    await repo.lock_reward(conn, reward_id)  # rounds of one reward opened one at a time: places are counted
    if reward["places"] is not None:
        promised = await repo.places_promised(conn, reward_id)
        if promised + quota > reward["places"]:
            raise Conflict(
                "exceeds_places",
                f"reward {reward_id} has {reward['places']} places, {promised} promised by earlier rounds: "
                f"a round may promise at most {reward['places'] - promised}",
            )
    now = datetime.now(UTC)
    longest = MAX_HOLD_S - deps.settings.application_hold_grace_s
    if (closes_at - now).total_seconds() > longest:
        raise Conflict("window_too_long", f"a round may close at most {longest // 86400} days from now")
    server_seed = allocation.new_seed()
    chosen = allocation.mix_seed(server_seed, seed)
    row = await repo.insert_round(
        conn,
        round_id=round_id,
        reward_id=reward_id,
        quota=quota,
        opens_at=opens_at,
        closes_at=closes_at,
        seed=chosen,
        seed_sha256=allocation.seed_digest(chosen),
        seed_generated=seed is None,
        server_seed=server_seed,
        operator_seed=seed,
        time_resolution_s=deps.settings.application_time_resolution_s,
        opened_by=by,
    )
    if row is None:
        raise Conflict("conflict", f"round {round_id} exists already")
    return row


async def apply(uow: UnitOfWork, round_id: str, member_id: str, deps: Deps) -> Row:
    """Enter a member (eligibility checked now, and again at close) and hold the cost of the place."""
    conn = uow.conn
    rnd = await repo.get_round(conn, round_id)
    if rnd is None:
        raise NotFound(f"no round {round_id}")
    existing = await repo.get_application(conn, round_id, member_id)
    if existing is not None:
        return existing
    now = datetime.now(UTC)
    if not lifecycle.takes_applications(rnd["status"]) or not rnd["opens_at"] <= now < rnd["closes_at"]:
        raise Conflict(
            "round_not_open",
            f"round {round_id} takes applications from {rnd['opens_at'].isoformat()} "
            f"until {rnd['closes_at'].isoformat()}",
        )
    reward = await repo.get_reward(conn, rnd["reward_id"])
    refusal = await saga.check(conn, reward, member_id, "allocation", now, deps)
    if refusal is not None:
        raise Conflict(refusal.reason.value, refusal.detail)
    assert reward is not None
    hold_id = derived_event_id("hold", "application", round_id, member_id)
    free = reward["cost_points"] == 0  # an award: nothing to hold, the application stands at once
    row = await repo.insert_application(
        conn, round_id, member_id, hold_id, ApplicationStatus.HELD if free else ApplicationStatus.PENDING
    )
    if row is None:  # the same member applied at the same moment; that one stands
        row = await repo.get_application(conn, round_id, member_id)
        assert row is not None
        return row
    if free:
        uow.after_commit(lambda: deps.metrics.applications.labels("applied").inc())
        return row
    await saga.place_hold(
        uow,
        hold_id=hold_id,
        member_id=member_id,
        amount=reward["cost_points"],
        reason=f"application to round {round_id}: {reward['name']}"[:200],
        ttl_s=hold_ttl(rnd["closes_at"], now, deps),
        purpose="application",
        round_id=round_id,
    )
    uow.after_commit(lambda: deps.metrics.applications.labels("applied").inc())
    return row


async def close(uow: UnitOfWork, round_id: str, *, by: str, deps: Deps) -> Row:
    conn = uow.conn
    rnd = await repo.get_round(conn, round_id, lock=True)
    if rnd is None:
        raise NotFound(f"no round {round_id}")
    if not lifecycle.round_moves(rnd["status"], RoundStatus.CLOSED):
        return rnd  # closed already: closing again answers the round as it is
    now = datetime.now(UTC)
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    apps = await repo.applications(conn, round_id, lock=True)
    if any(a["status"] == ApplicationStatus.PENDING for a in apps):
        since = rnd["closing_since"] or now
        if (now - since).total_seconds() < deps.settings.close_wait_s:
            # A reply of points may be on its way: wait for it (the job retries) rather than decide without it.
            if lifecycle.round_moves(rnd["status"], RoundStatus.CLOSING):
                await repo.start_closing(conn, round_id, since=now, by=by)
            closing = await repo.get_round(conn, round_id)
            assert closing is not None
            return closing
    in_running = []
    for app in apps:
        if app["status"] == ApplicationStatus.PENDING:  # points has not answered the hold yet: it cannot count
            await _lose(uow, rnd, reward, app, "hold_unconfirmed", None, deps)
        elif app["status"] == ApplicationStatus.HELD:
            refusal = await still_eligible(conn, reward, app, deps)
            if refusal is not None:
                await _lose(uow, rnd, reward, app, "not_eligible", None, deps)
            else:
                in_running.append(app)
    day = standing.business_day(now, deps.settings.timezone)
    figures = await repo.standings(conn, [a["member_id"] for a in in_running], standing.window_start(day))
    ranked = allocation.rank(
        [
            allocation.Figures(
                a["member_id"], *figures[a["member_id"]], allocation.cut_time(a["applied_at"], rnd["time_resolution_s"])
            )
            for a in in_running
        ],
        seed=rnd["seed"],
        round_id=round_id,
        quota=rnd["quota"],
    )
    by_member = {a["member_id"]: a for a in in_running}
    for r in ranked:
        app = by_member[r.member_id]
        await repo.update_application(
            conn,
            round_id,
            r.member_id,
            star_level=r.star_level,
            earned_365d=r.earned_365d,
            ranked_at=r.applied_at,
            ticket=r.ticket,
            rank=r.rank,
            won_at_close=r.won,
            tie_broken_by_lottery=r.tie_broken_by_lottery,
        )
        if r.won:
            await _move(conn, round_id, r.member_id, ApplicationStatus.WINNING)
            if await repo.get_hold(conn, app["hold_id"]) is None:  # an award: nothing to pay
                await _win(uow, rnd, {**app, "rank": r.rank}, deps)
            else:
                await saga.capture_hold(uow, app["hold_id"], r.member_id)
        else:
            await _lose(uow, rnd, reward, app, "outranked", r.rank, deps)
    result = lifecycle.result_at_close(reward["notice_days"])
    await repo.close_round(
        conn,
        round_id,
        closed_at=now,
        closed_by=rnd["closed_by"] or by,
        standings_day=day,
        result_sha256=allocation.digest(ranked),
        result_status=result,
        notice_ends_at=now + timedelta(days=reward["notice_days"]),
        finalised_at=now if result is ResultStatus.FINAL else None,
    )
    uow.after_commit(lambda: deps.metrics.rounds_closed.inc())
    closed = await repo.get_round(conn, round_id)
    assert closed is not None
    return closed


async def still_eligible(conn: Conn, reward: Row, app: Row, deps: Deps) -> eligibility.Refusal | None:
    """Checked again at close and before a place is passed on: member, district, level and the yearly limit as
    they are now, against the reward as it was offered when they applied (a round may outlast its window)."""
    return await saga.check(conn, reward, app["member_id"], "allocation", app["applied_at"], deps)


async def _lose(uow: UnitOfWork, rnd: Row, reward: Row, app: Row, reason: str, rank: int | None, deps: Deps) -> None:
    round_id, member_id = rnd["round_id"], app["member_id"]
    await _move(uow.conn, round_id, member_id, ApplicationStatus.LOST, reason=reason)
    held = await repo.get_hold(uow.conn, app["hold_id"]) is not None  # an award holds nothing
    if held and reason not in ("insufficient_points", "hold_expired"):  # those holds hold nothing any more
        await saga.release_hold(uow, app["hold_id"], member_id, f"round {round_id}: {reason}")
    uow.emit(
        "allocation.lost",
        member_id,
        round_id,
        AllocationLost(
            round_id=round_id,
            member_id=member_id,
            reward_id=reward["reward_id"],
            reward_name=reward["name"],
            rank=rank,
            quota=rnd["quota"],
            reason=reason,
            occurred_at=datetime.now(UTC),
        ),
        id_from=(round_id, member_id),
    )
    uow.after_commit(lambda: deps.metrics.applications.labels(f"lost_{reason}").inc())


async def _win(uow: UnitOfWork, rnd: Row, app: Row | dict[str, Any], deps: Deps) -> None:
    """The winner's points are captured: the place is theirs, as a confirmed redemption with a voucher."""
    conn = uow.conn
    round_id, member_id = rnd["round_id"], app["member_id"]
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    now = datetime.now(UTC)
    redemption_id = derived_event_id("allocation", round_id, member_id, str(app["offers"]))
    hold = await repo.get_hold(conn, app["hold_id"])  # None: an award, nothing paid
    row = await repo.insert_redemption(
        conn,
        redemption_id=redemption_id,
        member_id=member_id,
        reward_id=reward["reward_id"],
        kind="allocation",
        round_id=round_id,
        status=RedemptionStatus.CONFIRMED,
        step=Step.DONE,
        cost_points=hold["amount"] if hold else 0,
        hold_id=app["hold_id"] if hold else None,
        voucher_code=vouchers.issue(),
        expires_at=now + timedelta(days=reward["valid_days"]),
        business_year=saga.business_year(now, deps.settings.timezone),
        requested_via="allocation",
        decided_at=now,
    )
    assert row is not None
    await repo.record_step(
        conn, redemption_id, RedemptionStatus.CONFIRMED, f"won round {round_id} at rank {app['rank']}"
    )
    await _move(conn, round_id, member_id, ApplicationStatus.WON, redemption_id=redemption_id)
    uow.emit(
        "allocation.won",
        member_id,
        round_id,
        AllocationWon(
            round_id=round_id,
            member_id=member_id,
            reward_id=reward["reward_id"],
            reward_name=reward["name"],
            rank=app["rank"],
            redemption_id=redemption_id,
            voucher_code=row["voucher_code"],
            cost_points=row["cost_points"],
            occurred_at=now,
        ),
        id_from=(round_id, member_id, str(app["offers"])),
    )
    uow.after_commit(lambda: deps.metrics.applications.labels(ApplicationStatus.WON).inc())


async def pass_on(uow: UnitOfWork, round_id: str, deps: Deps) -> str | None:
    """A place fell free (a winner cancelled or never paid): offer it to the next ranked applicant still eligible.

    Returns the member offered the place, or None when nobody is left (the place stays unfilled).
    """
    conn = uow.conn
    rnd = await repo.get_round(conn, round_id, lock=True)
    assert rnd is not None
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    for app in await repo.applications(conn, round_id, lock=True):
        if app["status"] != ApplicationStatus.LOST or app["reason"] != "outranked":
            continue
        refusal = await still_eligible(conn, reward, app, deps)
        if refusal is not None:
            await repo.update_application(conn, round_id, app["member_id"], reason=f"passed_over: {refusal.detail}")
            continue
        offers = app["offers"] + 1
        hold_id = derived_event_id("hold", "offer", round_id, app["member_id"], str(offers))
        if reward["cost_points"] == 0:  # an award: the place is theirs at once
            await _move(conn, round_id, app["member_id"], ApplicationStatus.WINNING, reason=None, offers=offers)
            await _win(uow, rnd, {**app, "offers": offers}, deps)
            return str(app["member_id"])
        await saga.place_hold(
            uow,
            hold_id=hold_id,
            member_id=app["member_id"],
            amount=reward["cost_points"],
            reason=f"place passed on in round {round_id}: {reward['name']}"[:200],
            ttl_s=deps.settings.hold_ttl_s,
            purpose="application",
            round_id=round_id,
        )
        await _move(
            conn, round_id, app["member_id"], ApplicationStatus.OFFERED, reason=None, hold_id=hold_id, offers=offers
        )
        return str(app["member_id"])
    return None


async def on_hold(uow: UnitOfWork, hold: Row, said: Said, detail: str | None, deps: Deps) -> str:
    """Move an application on after points answered its hold (`lifecycle.application_after_hold` decides)."""
    conn = uow.conn
    round_id, member_id = hold["round_id"], hold["member_id"]
    rnd = await repo.get_round(conn, round_id)
    app = await repo.get_application(conn, round_id, member_id, lock=True)
    assert rnd is not None
    assert app is not None
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    then = lifecycle.application_after_hold(
        said,
        status=app["status"],
        current=app["hold_id"] == hold["hold_id"],
        round_open=rnd["status"] != RoundStatus.CLOSED,  # a closing round waits for these replies
        wanted=hold["wanted"],
    )
    match then:
        case ApplicationNext.HOLD:
            await _move(conn, round_id, member_id, ApplicationStatus.HELD)
        case ApplicationNext.ACCEPT_OFFER:
            await _move(conn, round_id, member_id, ApplicationStatus.WINNING)
            await saga.capture_hold(uow, hold["hold_id"], member_id)
        case ApplicationNext.RELEASE_LATE_HOLD:
            await saga.release_hold(uow, hold["hold_id"], member_id, "application no longer in the running")
        case ApplicationNext.LOSE_UNPAID:
            await _lose(uow, rnd, reward, app, "insufficient_points", None, deps)
        case ApplicationNext.PASS_OVER:
            await _move(conn, round_id, member_id, ApplicationStatus.LOST, reason="passed_over: insufficient_points")
            await pass_on(uow, round_id, deps)
        case ApplicationNext.WIN:
            await _win(uow, rnd, app, deps)
        case ApplicationNext.LOSE_EXPIRED:
            await _lose(uow, rnd, reward, app, "hold_expired", None, deps)
        case ApplicationNext.FORFEIT:
            await _move(conn, round_id, member_id, ApplicationStatus.FORFEITED, reason=f"hold {said}")
            await pass_on(uow, round_id, deps)
    return then.value


async def winner_cancelled(uow: UnitOfWork, redemption: Row, deps: Deps) -> str | None:
    await _move(uow.conn, redemption["round_id"], redemption["member_id"], ApplicationStatus.CANCELLED)
    return await pass_on(uow, redemption["round_id"], deps)


async def disqualify(
    uow: UnitOfWork, round_id: str, member_id: str, *, reason: str, by: str, deps: Deps
) -> tuple[Row, str | None]:
    """During the notice: take a provisional winner's place away (points refunded, voucher void) and pass it
    on to the next in line. Returns the disqualified application and who was offered the place."""
    conn = uow.conn
    rnd = await repo.get_round(conn, round_id, lock=True)
    if rnd is None:
        raise NotFound(f"no allocation round {round_id}")
    try:
        lifecycle.check_notice(round_id, rnd["status"], rnd["result_status"])
        app = await repo.get_application(conn, round_id, member_id, lock=True)
        if app is None:
            raise NotFound(f"{member_id} did not apply to round {round_id}")
        lifecycle.check_disqualification(round_id, member_id, app["status"])
    except lifecycle.Refused as refused:
        raise Conflict(refused.code, str(refused)) from None
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    why = redact_text(reason)
    await saga.cancel(
        uow, app["redemption_id"], by="operator", reason=f"disqualified: {why}", deps=deps, announce_it=False
    )
    now = datetime.now(UTC)
    await _move(
        conn, round_id, member_id, ApplicationStatus.DISQUALIFIED, reason=why, disqualified_at=now, disqualified_by=by
    )
    uow.emit(
        "allocation.disqualified",
        member_id,
        round_id,
        AllocationDisqualified(
            round_id=round_id,
            member_id=member_id,
            reward_id=reward["reward_id"],
            reward_name=reward["name"],
            rank=app["rank"],
            reason=why,
            points_returned=await _paid(conn, app["redemption_id"]),
            occurred_at=now,
        ),
        id_from=(round_id, member_id, ApplicationStatus.DISQUALIFIED),
    )
    uow.after_commit(lambda: deps.metrics.applications.labels(ApplicationStatus.DISQUALIFIED).inc())
    promoted = await pass_on(uow, round_id, deps)
    after = await repo.get_application(conn, round_id, member_id)
    assert after is not None
    return after, promoted


async def _move(conn: Conn, round_id: str, member_id: str, to: ApplicationStatus, **changes: Any) -> None:
    """Move an application to `to` if `lifecycle.APPLICATION_MOVES` allows it from the status it is in now
    (checked in the same statement). A move the table does not have is a bug here, never the caller's:
    every refusal an operator or member may meet is decided before (`check_disqualification`, ...)."""
    if not await repo.move_application(conn, round_id, member_id, to, lifecycle.moves_into(to), **changes):
        app = await repo.get_application(conn, round_id, member_id)
        raise lifecycle.IllegalApplicationMove(app["status"] if app else "absent", to)


async def _paid(conn: Conn, redemption_id: str) -> int:
    row = await repo.get_redemption(conn, redemption_id)
    return int(row["cost_points"]) if row else 0


async def finalise_due(work: Work) -> int:
    """Make final the results whose public notice has ended."""
    async with work() as uow:
        return await repo.finalise_rounds(uow.conn)


async def close_due(work: Work, deps: Deps) -> int:
    """Close every round whose window has ended, each in its own transaction (an operator may close one earlier)."""
    async with work() as uow:
        due = await repo.rounds_due(uow.conn)
    for round_id in due:
        async with work() as uow:
            await close(uow, round_id, by="schedule", deps=deps)
    return len(due)
