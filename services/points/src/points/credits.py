"""A run of credits and reversals at once: `usecases.earn`'s and `usecases.reverse`'s decisions, one
statement per kind of row.

The consumer hands over consecutive verified reports, ratings, volunteering, reversed verifications
and revoked attendances of a batch, in any mix (one `Batchable.many` for all of them, so a reversal
does not split the run of credits around it). What the decisions read is fetched, and locked in key
order, for the whole run first (members, what was already credited or cut and the credits that
reversals take back, each day's earnings); the decisions are then made in event order in Python
(`plan`, pure), so per-member order, the daily cap and what a reversal finds come out as `earn` and
`reverse` would make them one event after another: a reversal takes back a credit made before it,
in the ledger or earlier in the run, and finds nothing to reverse in one that comes after it. The
run's transfers are then posted at once by `transfers.post`, the one way points move (ledger rows,
balances, earned totals and level moves, announcements: one statement per kind of row), each cap
cut announced right after its credit and all recorded in one statement. An event for a member not
registered yet is parked, as `members.require` would park it; a run with an event `earn` or
`reverse` would refuse (an earning for a deactivated member, a reversal of another member's credit)
goes event by event instead (`OneByOne`): the kernel halves the run down to that event and redoes it
with its one-event use case, which dead-letters it with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from incentives_kernel import members, standing
from incentives_kernel.outcome import OneByOne, Outcome, ParsedEvent, UnitOfWork, applied, ignored, parked

from . import policy
from . import repository as repo
from .ledger import issuance_account
from .metrics import RunCounts
from .transfers import Earned, Posting, post
from .usecases import (
    ALREADY_REVERSED,
    Deps,
    Earning,
    Original,
    ReversalAsked,
    announce_cap_cut,
    cap_cut,
    earning_of,
    new_transfer,
    nothing_to_reverse,
    reversal_of,
    reversal_posting,
)

REVERSALS = ("report.verification_reversed", "volunteer.attendance_revoked")

# What an event of the run asks: an earning, a reversal, or (a str) why it earns nothing.
Asked = Earning | ReversalAsked | str


@dataclass(frozen=True, slots=True)
class Skip:
    """An event of the run that moves nothing, and why."""

    event: ParsedEvent
    why: str


@dataclass(frozen=True, slots=True)
class Decided:
    """An earning of the run with its daily-cap decision on its business day."""

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


@dataclass(frozen=True, slots=True)
class Reversing:
    """A reversal of the run and the credit it takes back: in the ledger, or a credit earlier in the run."""

    event: ParsedEvent
    asked: ReversalAsked
    original: Original | Decided


Step = Skip | Decided | Reversing


def asked_of(event: ParsedEvent, deps: Deps) -> Asked:
    return reversal_of(event) if event.type in REVERSALS else earning_of(event, deps)


def plan(
    events: Sequence[ParsedEvent],
    asks: Sequence[Asked],
    recorded: set[str],
    earned_today: Mapping[tuple[str, date], int],
    deps: Deps,
    originals: Mapping[str, Original] | None = None,
) -> list[Step]:
    """Each event's decision, in order, as `earn` and `reverse` would take them one after another (pure).

    `recorded`: the transfer and cap-cut ids recorded before the run; `originals`: the transfers
    among them that reversals of the run take back. Raises `OneByOne` for a reversal of another
    member's credit (`reverse` dead-letters it).
    """
    running = dict(earned_today)
    seen = set(recorded)
    credited: dict[str, Original | Decided] = dict(originals or {})
    steps: list[Step] = []
    for event, asked in zip(events, asks, strict=True):
        if isinstance(asked, str):
            steps.append(Skip(event, asked))
        elif isinstance(asked, ReversalAsked):
            original = credited.get(asked.original_id)
            if original is None:
                steps.append(Skip(event, nothing_to_reverse(asked)))
            elif original.member_id != asked.member_id:
                raise OneByOne(f"a reversal of {asked.kind} {asked.ref}, credited to another member")
            else:
                steps.append(Reversing(event, asked, original))
        else:
            transfer_id, cut_id = asked.ids
            if transfer_id in seen or cut_id in seen:
                steps.append(Skip(event, "already credited"))
                continue
            seen.update((transfer_id, cut_id))
            day = standing.business_day(event.envelope.time, deps.timezone)
            capped = asked.kind in deps.policy.rules.capped_kinds
            key = (asked.member_id, day)
            decision = deps.policy.apply_daily_cap(asked.kind, asked.amount, running.get(key, 0) if capped else 0)
            if capped:
                running[key] = running.get(key, 0) + decision.credited
            step = Decided(event, asked, day, decision)
            if decision.credited:  # a credit cut to nothing leaves nothing to reverse
                credited[transfer_id] = step
            steps.append(step)
    return steps


async def apply_run(uow: UnitOfWork, events: Sequence[ParsedEvent], *, deps: Deps) -> list[Outcome]:
    """`usecases.credit` or `usecases.reverse_*` for each event, in order, with a handful of statements
    for the whole run."""
    conn = uow.conn
    asks = [asked_of(event, deps) for event in events]
    wanted = {a.member_id for a in asks if not isinstance(a, str)}
    if not wanted:
        return [ignored(a) for a in asks if isinstance(a, str)]
    found = await members.get_many(conn, wanted)
    if any(isinstance(a, Earning) and a.member_id in found and not found[a.member_id].active for a in asks):
        raise OneByOne("an earning for a deactivated member")  # `earn` dead-letters it, with its reason
    # An event for a member not registered yet waits for the registration, as `members.require` makes it.
    outcomes = [
        parked(members.member_key(a.member_id), f"member {a.member_id} is not registered yet")
        if not isinstance(a, str) and a.member_id not in found
        else None
        for a in asks
    ]
    known = [i for i, o in enumerate(outcomes) if o is None]
    done = await _apply(uow, [events[i] for i in known], [asks[i] for i in known], found, deps)
    for i, outcome in zip(known, done, strict=True):
        outcomes[i] = outcome
    return [o for o in outcomes if o is not None]


async def _apply(
    uow: UnitOfWork,
    events: Sequence[ParsedEvent],
    asks: Sequence[Asked],
    found: Mapping[str, members.Member],
    deps: Deps,
) -> list[Outcome]:
    """`apply_run` for events whose members are all registered (and active, where they earn)."""
    conn = uow.conn
    if all(isinstance(a, str) for a in asks):
        return [ignored(a) for a in asks if isinstance(a, str)]
    transfer_ids = [a.ids[0] if isinstance(a, Earning) else a.original_id for a in asks if not isinstance(a, str)]
    cut_ids = [a.ids[1] for a in asks if isinstance(a, Earning)]
    recorded, rows = await repo.recorded(conn, transfer_ids, cut_ids)
    capped = deps.policy.rules.capped_kinds
    pairs = [
        (a.member_id, standing.business_day(event.envelope.time, deps.timezone))
        for event, a in zip(events, asks, strict=True)
        if isinstance(a, Earning) and a.kind in capped and not recorded.intersection(a.ids)
    ]
    earned_today = await repo.lock_earned_on(conn, pairs) if pairs else {}
    originals = {i: Original.of(r) for i, r in rows.items()}
    steps = plan(events, asks, recorded, earned_today, deps, originals)

    daily: dict[tuple[str, date], int] = {}
    for s in steps:
        if isinstance(s, Decided) and s.credited and s.earning.kind in capped:
            daily[(s.member_id, s.day)] = daily.get((s.member_id, s.day), 0) + s.credited
    if daily:
        await repo.add_earned_many(conn, daily)

    cuts: list[repo.CapCut] = []

    async def then(i: int) -> None:  # right after step i's credit: what the cap cut, announced in its place
        s = steps[i]
        if isinstance(s, Decided) and s.decision.cut:
            cut = cap_cut(s.event, s.earning, s.decision, s.day, deps)
            announce_cap_cut(uow, cut, deps)
            cuts.append(cut)

    run = [_posting(s, found, deps) for s in steps]
    posted = await post(uow, run, rules=deps.policy, timezone=deps.timezone, then=then)
    if cuts:
        await repo.insert_cap_cuts(conn, cuts)

    outcomes: list[Outcome] = []
    counts = RunCounts()  # the run's domain metrics, counted once per kind after the commit
    for s, p, balance in zip(steps, run, posted, strict=True):
        if isinstance(s, Skip):
            outcomes.append(ignored(s.why))
        elif isinstance(s, Decided):
            counts.earned(s.earning.kind, s.decision.credited, s.decision.cut)
            outcomes.append(applied())
        elif balance is None:  # its reversal was posted before, or earlier in the run
            outcomes.append(ignored(ALREADY_REVERSED))
        else:
            assert p is not None
            counts.took_back(s.asked.kind, p.transfer.amount)
            outcomes.append(applied())
    uow.after_commit(lambda: deps.metrics.count_run(counts))
    return outcomes


def _posting(s: Step, found: Mapping[str, members.Member], deps: Deps) -> Posting | None:
    if isinstance(s, Skip):
        return None
    if isinstance(s, Reversing):
        original = s.original
        if isinstance(original, Decided):  # credited earlier in the run: the transfer `_posting` made for it
            credit, at = original.earning, original.event.envelope.time
            account = issuance_account(found[credit.member_id].district)
            original = Original(credit.member_id, account, original.credited, credit.kind, at)
        return reversal_posting(s.event, s.asked, original, found[s.asked.member_id].district, deps)
    if not s.credited:
        return None
    district = found[s.member_id].district
    earned = Earned(s.day, district) if s.earning.kind in standing.LEVEL_KINDS else None
    return Posting(new_transfer(s.event, s.earning, district, s.credited, deps), earned=earned)
