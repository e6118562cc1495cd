"""Crediting a run of earning events at once: `usecases.earn`'s decisions, one statement per kind of row.

The consumer hands over consecutive verified reports, ratings and volunteering of a batch. What the
decisions read is fetched, and locked in key order, for the whole run first (members, what was
already credited, each day's earnings); the decisions are then made in event order in Python
(`plan`, pure), so per-member order and the daily cap come out as `earn` would make them one event
after another. The run's credits are then posted at once by `transfers.post`, the one way points
move (ledger rows, balances, earned totals and level moves, announcements: one statement per kind
of row), each cap cut recorded right after its credit. An earning for a member not registered yet
is parked, as `earn` would park it; a run with an earning `earn` would refuse (a deactivated
member) goes event by event instead (`OneByOne`): the kernel redoes the batch with `earn`, which
dead-letters it with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from incentives_kernel import members, standing
from incentives_kernel.outcome import OneByOne, Outcome, ParsedEvent, UnitOfWork, applied, ignored, parked

from . import policy
from . import repository as repo
from .transfers import Earned, Posting, post
from .usecases import Deps, Earning, count_earning, earning_of, new_transfer, record_cap_cut


@dataclass(frozen=True, slots=True)
class Skip:
    """An event of the run that earns nothing, and why."""

    event: ParsedEvent
    why: str


@dataclass(frozen=True, slots=True)
class Decided:
    """An event of the run with its daily-cap decision on its business day."""

    event: ParsedEvent
    earning: Earning
    day: date
    decision: policy.CapDecision

    @property
    def member_id(self) -> str:
        return self.earning.member_id

    @property
    def credited(self) -> int:
        return self.decision.credited


Step = Skip | Decided


def plan(
    events: Sequence[ParsedEvent],
    earnings: Sequence[Earning | str],
    recorded: set[str],
    earned_today: Mapping[tuple[str, date], int],
    deps: Deps,
) -> list[Step]:
    """Each event's decision, in order, as `earn` would take them one after another (pure)."""
    running = dict(earned_today)
    seen = set(recorded)
    steps: list[Step] = []
    for event, earning in zip(events, earnings, strict=True):
        if isinstance(earning, str):
            steps.append(Skip(event, earning))
            continue
        transfer_id, cut_id = earning.ids
        if transfer_id in seen or cut_id in seen:
            steps.append(Skip(event, "already credited"))
            continue
        seen.update((transfer_id, cut_id))
        day = standing.business_day(event.envelope.time, deps.timezone)
        capped = earning.kind in deps.policy.rules.capped_kinds
        key = (earning.member_id, day)
        decision = deps.policy.apply_daily_cap(earning.kind, earning.amount, running.get(key, 0) if capped else 0)
        if capped:
            running[key] = running.get(key, 0) + decision.credited
        steps.append(Decided(event, earning, day, decision))
    return steps


async def earn_many(uow: UnitOfWork, events: Sequence[ParsedEvent], *, deps: Deps) -> list[Outcome]:
    """`usecases.credit` for each event, in order, with a handful of statements for the whole run."""
    conn = uow.conn
    earnings = [earning_of(event, deps) for event in events]
    wanted = [e for e in earnings if isinstance(e, Earning)]
    if not wanted:
        return [ignored(e) for e in earnings if isinstance(e, str)]
    found = await members.get_many(conn, {e.member_id for e in wanted})
    if any(e.member_id in found and not found[e.member_id].active for e in wanted):
        raise OneByOne("an earning for a deactivated member")  # `earn` dead-letters it, with its reason
    # An earning for a member not registered yet waits for the registration, as `members.require` makes it.
    outcomes = [
        parked(members.member_key(e.member_id), f"member {e.member_id} is not registered yet")
        if isinstance(e, Earning) and e.member_id not in found
        else None
        for e in earnings
    ]
    known = [i for i, o in enumerate(outcomes) if o is None]
    done = await _credit(uow, [events[i] for i in known], [earnings[i] for i in known], found, deps)
    for i, outcome in zip(known, done, strict=True):
        outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


async def _credit(
    uow: UnitOfWork,
    events: Sequence[ParsedEvent],
    earnings: Sequence[Earning | str],
    found: Mapping[str, members.Member],
    deps: Deps,
) -> list[Outcome]:
    """`earn_many` for events whose members are all registered and active."""
    conn = uow.conn
    wanted = [e for e in earnings if isinstance(e, Earning)]
    if not wanted:
        return [ignored(e) for e in earnings if isinstance(e, str)]
    id_pairs = [e.ids for e in wanted]
    recorded = await repo.earnings_recorded(conn, [t for t, _ in id_pairs], [c for _, c in id_pairs])
    capped = deps.policy.rules.capped_kinds
    pairs = [
        (e.member_id, standing.business_day(event.envelope.time, deps.timezone))
        for event, e in zip(events, earnings, strict=True)
        if isinstance(e, Earning) and e.kind in capped and not recorded.intersection(e.ids)
    ]
    earned_today = await repo.lock_earned_on(conn, pairs) if pairs else {}
    steps = plan(events, earnings, recorded, earned_today, deps)

    daily: dict[tuple[str, date], int] = {}
    for s in steps:
        if isinstance(s, Decided) and s.credited and s.earning.kind in capped:
            daily[(s.member_id, s.day)] = daily.get((s.member_id, s.day), 0) + s.credited
    if daily:
        await repo.add_earned_many(conn, daily)

    async def then(i: int) -> None:  # right after step i's credit: what the cap cut, the metrics
        s = steps[i]
        if isinstance(s, Decided):
            if s.decision.cut:
                await record_cap_cut(uow, s.event, s.earning, s.decision, s.day, deps)
            uow.after_commit(count_earning(s.earning.kind, s.decision, deps))

    run = [_posting(s, found, deps) if isinstance(s, Decided) and s.credited else None for s in steps]
    await post(uow, run, rules=deps.policy, timezone=deps.timezone, then=then)
    return [ignored(s.why) if isinstance(s, Skip) else applied() for s in steps]


def _posting(s: Decided, found: Mapping[str, members.Member], deps: Deps) -> Posting:
    district = found[s.member_id].district
    earned = Earned(s.day, district) if s.earning.kind in standing.LEVEL_KINDS else None
    return Posting(new_transfer(s.event, s.earning, district, s.credited, deps), earned=earned)
