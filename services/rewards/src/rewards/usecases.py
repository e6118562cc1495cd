"""What the rewards service does with each event: redemption requests, points' answers, standing."""

from __future__ import annotations

import structlog
from incentives_kernel.db import Row
from incentives_kernel.events import (
    HoldReply,
    MemberLevelChanged,
    PointsCredited,
    PointsReversed,
    ProviderRegistered,
    RedemptionRequested,
)
from incentives_kernel.outcome import APPLIED, Outcome, ParsedEvent, UnitOfWork, ignored

from . import lifecycle, rounds, saga
from . import repository as repo
from .saga import Deps

log = structlog.get_logger(__name__)


async def redemption_requested(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    data = event.data
    assert isinstance(data, RedemptionRequested)
    row, created = await saga.request(uow, data, via="kafka", deps=deps)
    if not created:
        return ignored(f"redemption {data.redemption_id} exists already ({row['status']})")
    return APPLIED


async def hold_answered(uow: UnitOfWork, event: ParsedEvent, *, deps: Deps) -> Outcome:
    """Points answered a hold: record what it says (unless stale), then move its owner on."""
    reply = event.data
    assert isinstance(reply, HoldReply)
    hold = await repo.get_hold(uow.conn, reply.hold_id)
    if hold is None:
        return ignored("not a hold rewards asked for")
    said = lifecycle.SAID[event.envelope.type]
    try:
        state = lifecycle.hold_after(hold["status"], said)
    except lifecycle.StaleReply as stale:
        return ignored(str(stale))
    if state is not None:
        await repo.hold_said(uow.conn, hold["hold_id"], state, reply.reason)
    if hold["purpose"] == "redemption":
        then = await saga.on_hold(uow, hold, said, reply.reason, deps)
    else:
        then = await rounds.on_hold(uow, hold, said, reply.reason, deps)
    log.debug("hold answered", hold_id=hold["hold_id"], said=said, then=then)
    return APPLIED


async def cancel(uow: UnitOfWork, redemption_id: str, *, by: str, reason: str, deps: Deps) -> Row:
    """Cancel a confirmed redemption; a won allocation place passes on to the next in line."""
    before = await repo.get_redemption(uow.conn, redemption_id)
    row = await saga.cancel(uow, redemption_id, by=by, reason=reason, deps=deps)
    if row["kind"] == "allocation" and before is not None and before["status"] != lifecycle.RedemptionStatus.CANCELLED:
        await rounds.winner_cancelled(uow, row, deps)
    return row


# ---------------------------------------------------------------- standing, from points' own events


async def points_earned(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, PointsCredited | PointsReversed)
    if data.earned_day is None:
        return ignored(f"{data.kind} points do not count as earned")
    delta = data.amount if isinstance(data, PointsCredited) else -data.amount
    await repo.add_earned(uow.conn, data.member_id, data.earned_day, delta)
    return APPLIED


async def level_changed(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    data = event.data
    assert isinstance(data, MemberLevelChanged)
    if not await repo.set_star_level(uow.conn, data.member_id, data.to_level, data.occurred_at):
        return ignored("stale: a later level is known")
    return APPLIED


# ---------------------------------------------------------------- providers, from the directory topic


async def provider_changed(uow: UnitOfWork, event: ParsedEvent) -> Outcome:
    """Register or update a provider; the event's time orders changes (a late, older one changes nothing)."""
    data = event.data
    assert isinstance(data, ProviderRegistered)
    values = data.model_dump(exclude={"location"}) | {"lat": data.location.lat, "lon": data.location.lon}
    by = f"source:{event.envelope.source}"  # the registry that sent it (allowed by sources.toml)
    if await repo.upsert_provider(uow.conn, values, event.envelope.time, by) is None:
        return ignored("stale: a later change of this provider is applied")
    return APPLIED
