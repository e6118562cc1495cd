"""Allocation rounds: apply with the cost held, rank at close, winners pay, the place passes on if given up.

The close runs in one transaction: it freezes every applicant's figures (star level, points earned
in the 365 days up to the close's business day, application time), ranks them (allocation.rank),
stores ranking, seed and digest, asks points to capture the winners' holds and to release the
others'. A winner's allocation.won waits for the capture, so a voucher always means points paid.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from incentives_kernel import standing
from incentives_kernel.db import Conn
from incentives_kernel.envelope import derived_event_id
from incentives_kernel.events import AllocationLost, AllocationWon

from . import allocation, eligibility, saga, vouchers
from . import repository as repo
from .saga import Conflict, Deps, OnCommit

MAX_HOLD_S = 30 * 24 * 3600  # points keeps a hold at most 30 days


def hold_ttl(closes_at: datetime, now: datetime, deps: Deps) -> int:
    return min(MAX_HOLD_S, int((closes_at - now).total_seconds()) + deps.settings.application_hold_grace_s)


async def open_round(
    conn: Conn,
    *,
    round_id: str,
    reward_id: str,
    quota: int,
    opens_at: datetime,
    closes_at: datetime,
    seed: str | None,
    deps: Deps,
) -> asyncpg.Record:
    reward = await repo.get_reward(conn, reward_id)
    if reward is None:
        raise LookupError(f"no reward {reward_id}")
    if reward["kind"] != "allocation":
        raise Conflict("not_allocation", f"reward {reward_id} is redeemed directly, not allocated in rounds")
    now = datetime.now(UTC)
    longest = MAX_HOLD_S - deps.settings.application_hold_grace_s
    if (closes_at - now).total_seconds() > longest:
        raise Conflict("window_too_long", f"a round may close at most {longest // 86400} days from now")
    chosen = seed or allocation.new_seed()
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
        time_resolution_s=deps.settings.application_time_resolution_s,
    )
    if row is None:
        raise Conflict("conflict", f"round {round_id} exists already")
    return row


async def apply(conn: Conn, round_id: str, member_id: str, deps: Deps, on_commit: OnCommit) -> asyncpg.Record:
    """Enter a member (eligibility checked now, and again at close) and hold the cost of the place."""
    rnd = await repo.get_round(conn, round_id)
    if rnd is None:
        raise LookupError(f"no round {round_id}")
    existing = await repo.get_application(conn, round_id, member_id)
    if existing is not None:
        return existing
    now = datetime.now(UTC)
    if rnd["status"] != "open" or not rnd["opens_at"] <= now < rnd["closes_at"]:
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
    row = await repo.insert_application(conn, round_id, member_id, hold_id)
    if row is None:  # the same member applied at the same moment; that one stands
        row = await repo.get_application(conn, round_id, member_id)
        assert row is not None
        return row
    await saga.place_hold(
        conn,
        hold_id=hold_id,
        member_id=member_id,
        amount=reward["cost_points"],
        reason=f"application to round {round_id}: {reward['name']}"[:200],
        ttl_s=hold_ttl(rnd["closes_at"], now, deps),
        purpose="application",
        round_id=round_id,
    )
    on_commit.append(lambda: deps.metrics.applications.labels("applied").inc())
    return row


async def close(conn: Conn, round_id: str, *, by: str, deps: Deps, on_commit: OnCommit) -> asyncpg.Record:
    rnd = await repo.get_round(conn, round_id, lock=True)
    if rnd is None:
        raise LookupError(f"no round {round_id}")
    if rnd["status"] == "closed":
        return rnd
    now = datetime.now(UTC)
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    apps = await repo.applications(conn, round_id, lock=True)
    in_running = []
    for app in apps:
        if app["status"] == "pending":  # points has not answered the hold yet: it cannot be counted on
            await _lose(conn, rnd, reward, app, "hold_unconfirmed", None, deps, on_commit)
        elif app["status"] == "held":
            refusal = await still_eligible(conn, reward, app, deps)
            if refusal is not None:
                await _lose(conn, rnd, reward, app, "not_eligible", None, deps, on_commit)
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
            await repo.update_application(conn, round_id, r.member_id, status="winning")
            await saga.capture_hold(conn, app["hold_id"], r.member_id)
        else:
            await _lose(conn, rnd, reward, app, "outranked", r.rank, deps, on_commit)
    await repo.close_round(
        conn, round_id, closed_at=now, closed_by=by, standings_day=day, result_sha256=allocation.digest(ranked)
    )
    on_commit.append(lambda: deps.metrics.rounds_closed.inc())
    closed = await repo.get_round(conn, round_id)
    assert closed is not None
    return closed


async def still_eligible(
    conn: Conn, reward: asyncpg.Record, app: asyncpg.Record, deps: Deps
) -> eligibility.Refusal | None:
    """Checked again at close and before a place is passed on: member, district, level and the yearly limit as
    they are now, against the reward as it was offered when they applied (a round may outlast its window)."""
    return await saga.check(conn, reward, app["member_id"], "allocation", app["applied_at"], deps)


async def _lose(
    conn: Conn,
    rnd: asyncpg.Record,
    reward: asyncpg.Record,
    app: asyncpg.Record,
    reason: str,
    rank: int | None,
    deps: Deps,
    on_commit: OnCommit,
) -> None:
    round_id, member_id = rnd["round_id"], app["member_id"]
    await repo.update_application(conn, round_id, member_id, status="lost", reason=reason)
    if reason not in ("insufficient_points", "hold_expired"):  # those holds hold nothing any more
        await saga.release_hold(conn, app["hold_id"], member_id, f"round {round_id}: {reason}")
    await saga.publish(
        conn,
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
        member_id,
    )
    on_commit.append(lambda: deps.metrics.applications.labels(f"lost_{reason}").inc())


async def _win(conn: Conn, rnd: asyncpg.Record, app: asyncpg.Record, deps: Deps, on_commit: OnCommit) -> None:
    """The winner's points are captured: the place is theirs, as a confirmed redemption with a voucher."""
    round_id, member_id = rnd["round_id"], app["member_id"]
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    now = datetime.now(UTC)
    redemption_id = derived_event_id("allocation", round_id, member_id, str(app["offers"]))
    hold = await repo.get_hold(conn, app["hold_id"])
    assert hold is not None
    row = await repo.insert_redemption(
        conn,
        redemption_id=redemption_id,
        member_id=member_id,
        reward_id=reward["reward_id"],
        kind="allocation",
        round_id=round_id,
        status="confirmed",
        step="done",
        cost_points=hold["amount"],
        hold_id=app["hold_id"],
        voucher_code=vouchers.issue(),
        business_year=saga.business_year(now, deps.settings.timezone),
        requested_via="allocation",
        decided_at=now,
    )
    assert row is not None
    await repo.record_step(conn, redemption_id, "confirmed", f"won round {round_id} at rank {app['rank']}")
    await repo.update_application(conn, round_id, member_id, status="won", redemption_id=redemption_id)
    await saga.publish(
        conn,
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
        member_id,
        str(app["offers"]),
    )
    on_commit.append(lambda: deps.metrics.applications.labels("won").inc())


async def pass_on(conn: Conn, round_id: str, deps: Deps, on_commit: OnCommit) -> str | None:
    """A place fell free (a winner cancelled or never paid): offer it to the next ranked applicant still eligible.

    Returns the member offered the place, or None when nobody is left (the place stays unfilled).
    """
    rnd = await repo.get_round(conn, round_id, lock=True)
    assert rnd is not None
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    datetime.now(UTC)
    for app in await repo.applications(conn, round_id, lock=True):
        if app["status"] != "lost" or app["reason"] != "outranked":
            continue
        refusal = await still_eligible(conn, reward, app, deps)
        if refusal is not None:
            await repo.update_application(conn, round_id, app["member_id"], reason=f"passed_over: {refusal.detail}")
            continue
        offers = app["offers"] + 1
        hold_id = derived_event_id("hold", "offer", round_id, app["member_id"], str(offers))
        await saga.place_hold(
            conn,
            hold_id=hold_id,
            member_id=app["member_id"],
            amount=reward["cost_points"],
            reason=f"place passed on in round {round_id}: {reward['name']}"[:200],
            ttl_s=deps.settings.hold_ttl_s,
            purpose="application",
            round_id=round_id,
        )
        await repo.update_application(
            conn, round_id, app["member_id"], status="offered", reason=None, hold_id=hold_id, offers=offers
        )
        return str(app["member_id"])
    return None


async def on_hold(
    conn: Conn, hold: asyncpg.Record, said: str, detail: str | None, deps: Deps, on_commit: OnCommit
) -> str:
    """Move an application on after points answered its hold."""
    round_id, member_id = hold["round_id"], hold["member_id"]
    rnd = await repo.get_round(conn, round_id)
    app = await repo.get_application(conn, round_id, member_id, lock=True)
    assert rnd is not None
    assert app is not None
    current = app["hold_id"] == hold["hold_id"]
    status = app["status"] if current else "superseded"
    reward = await repo.get_reward(conn, rnd["reward_id"])
    assert reward is not None
    if said == "placed":
        if status == "pending" and rnd["status"] == "open":
            await repo.update_application(conn, round_id, member_id, status="held")
            return "held"
        if status == "offered":
            await repo.update_application(conn, round_id, member_id, status="winning")
            await saga.capture_hold(conn, hold["hold_id"], member_id)
            return "offer accepted: capture requested"
        if hold["wanted"] == "pending":
            await saga.release_hold(conn, hold["hold_id"], member_id, "application no longer in the running")
            return "late hold released"
    elif said == "rejected":
        if status == "pending":
            await _lose(conn, rnd, reward, app, "insufficient_points", None, deps, on_commit)
            return "hold rejected"
        if status == "offered":  # cannot pay for the place now: the next one in line gets the offer
            await repo.update_application(
                conn, round_id, member_id, status="lost", reason="passed_over: insufficient_points"
            )
            await pass_on(conn, round_id, deps, on_commit)
            return "offer declined by points: passed on"
    elif said == "captured" and status == "winning":
        await _win(conn, rnd, app, deps, on_commit)
        return "won"
    elif said in ("expired", "refused"):
        if status == "held":  # the round was not closed in time to use the hold
            await _lose(conn, rnd, reward, app, "hold_expired", None, deps, on_commit)
            return "hold expired"
        if status in ("winning", "offered"):
            await repo.update_application(conn, round_id, member_id, status="forfeited", reason=f"hold {said}")
            await pass_on(conn, round_id, deps, on_commit)
            return "forfeited: passed on"
    return "recorded"


async def winner_cancelled(conn: Conn, redemption: asyncpg.Record, deps: Deps, on_commit: OnCommit) -> str | None:
    await repo.update_application(conn, redemption["round_id"], redemption["member_id"], status="cancelled")
    return await pass_on(conn, redemption["round_id"], deps, on_commit)


async def close_due(conn: Conn, deps: Deps) -> int:
    """Close every round whose window has ended (the operator may also close one earlier)."""
    closed = 0
    for round_id in await repo.rounds_due(conn):
        on_commit: OnCommit = []
        async with conn.transaction():
            await close(conn, round_id, by="schedule", deps=deps, on_commit=on_commit)
        for done in on_commit:
            done()
        closed += 1
    return closed
