"""Allocation rounds: who wins scarce places, decided from stored figures anyone can re-check. Pure.

Applicants are ranked by star level, then points earned in the trailing 365 days (both higher
first), then application time (earlier first, to the configured resolution). Remaining ties are
broken by a lottery: each applicant's ticket is HMAC-SHA256(seed, "<round_id>:<member_id>"), lowest
first. The seed is fixed when the round opens (only its SHA-256 is shown until it closes), so nobody
can pick a seed for a known set of applicants, and anyone can re-run the ranking from the figures.
An operator may bring a seed, but it is always mixed with the server's own randomness drawn at opening
(`mix_seed`): an operator cannot grind a seed offline for the applicants they expect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .lifecycle import HOLDS_PLACE, VACATED, ApplicationStatus


@dataclass(frozen=True, slots=True)
class Figures:
    """What an applicant is ranked by, frozen at close."""

    member_id: str
    star_level: int
    earned_365d: int
    applied_at: datetime  # already cut to the round's resolution


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    member_id: str
    star_level: int
    earned_365d: int
    applied_at: datetime
    ticket: str
    won: bool
    tie_broken_by_lottery: bool


def new_seed() -> str:
    return secrets.token_hex(32)


def mix_seed(server_seed: str, operator_seed: str | None) -> str:
    """The round's seed: SHA-256 over the server's randomness and the operator's seed (if any), both
    revealed at the close so anyone can recompute it."""
    if not operator_seed:
        return server_seed
    return hashlib.sha256(f"{server_seed}:{operator_seed}".encode()).hexdigest()


def seed_digest(seed: str) -> str:
    """Shown while the round is open: commits to the seed without revealing it."""
    return hashlib.sha256(seed.encode()).hexdigest()


def ticket(seed: str, round_id: str, member_id: str) -> str:
    return hmac.new(seed.encode(), f"{round_id}:{member_id}".encode(), hashlib.sha256).hexdigest()


def cut_time(moment: datetime, resolution_s: int) -> datetime:
    """Application time to the round's resolution (whole seconds by default)."""
    stamp = int(moment.timestamp()) // resolution_s * resolution_s
    return datetime.fromtimestamp(stamp, tz=moment.tzinfo)


def rank(applicants: Iterable[Figures], *, seed: str, round_id: str, quota: int) -> list[Ranked]:
    def merit(f: Figures) -> tuple[int, int, datetime]:
        return (-f.star_level, -f.earned_365d, f.applied_at)

    tickets = {f.member_id: ticket(seed, round_id, f.member_id) for f in applicants}
    ordered = sorted(applicants, key=lambda f: (merit(f), tickets[f.member_id]))
    tied = {m for m, count in _count(merit(f) for f in ordered).items() if count > 1}
    return [
        Ranked(
            rank=i,
            member_id=f.member_id,
            star_level=f.star_level,
            earned_365d=f.earned_365d,
            applied_at=f.applied_at,
            ticket=tickets[f.member_id],
            won=i <= quota,
            tie_broken_by_lottery=merit(f) in tied,
        )
        for i, f in enumerate(ordered, start=1)
    ]


def _count(keys: Iterable[tuple[int, int, datetime]]) -> dict[tuple[int, int, datetime], int]:
    counts: dict[tuple[int, int, datetime], int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def digest(ranking: Sequence[Ranked]) -> str:
    """A fingerprint of the result: the order of member ids and who won."""
    body = json.dumps([[r.rank, r.member_id, r.won] for r in ranking], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    matches: bool
    problems: list[str]
    recomputed: list[Ranked]


def verify(
    *, round_id: str, seed: str, seed_sha256: str, quota: int, stored: Sequence[Ranked], stored_digest: str
) -> Verdict:
    """Re-run the ranking from the stored figures and seed and compare it with the stored result."""
    problems = []
    if seed_digest(seed) != seed_sha256:
        problems.append("the seed does not match the digest published when the round opened")
    figures = [Figures(r.member_id, r.star_level, r.earned_365d, r.applied_at) for r in stored]
    again = rank(figures, seed=seed, round_id=round_id, quota=quota)
    for mine, theirs in zip(again, sorted(stored, key=lambda r: r.rank), strict=True):
        if (mine.rank, mine.member_id, mine.won, mine.ticket) != (
            theirs.rank,
            theirs.member_id,
            theirs.won,
            theirs.ticket,
        ):
            problems.append(
                f"rank {mine.rank}: recomputed {mine.member_id} (won={mine.won}), stored {theirs.member_id}"
            )
    if digest(again) != stored_digest:
        problems.append("the result digest differs")
    return Verdict(not problems, problems, again)


# ---------------------------------------------------------------- after the close: notice, disqualifications
# Which statuses hold a place (HOLDS_PLACE) and which gave one up or had it taken (VACATED): lifecycle.py.


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a ranked application ended up after the close (as the round's read shows it)."""

    rank: int
    member_id: str
    status: str
    won_at_close: bool
    reason: str | None


def check_changes(outcomes: Sequence[Outcome], quota: int) -> list[str]:
    """The changes after the close follow the ranking: every disqualification has a reason, a freed place
    went to the best-ranked applicant still in line (others before them passed over with a reason), no
    more places are held than the quota, and no freed place is left while someone outranked waits."""
    problems = []
    ordered = sorted(outcomes, key=lambda o: o.rank)
    held = [o for o in ordered if o.status in HOLDS_PLACE]
    if len(held) > quota:
        problems.append(f"{len(held)} places held, the round has {quota}")
    for o in ordered:
        if o.status == ApplicationStatus.DISQUALIFIED and not o.reason:
            problems.append(f"rank {o.rank}: {o.member_id} disqualified without a reason")
    ever_placed = {o.member_id for o in ordered if o.status in HOLDS_PLACE | VACATED}
    promoted = [o for o in ordered if o.member_id in ever_placed and not o.won_at_close]
    vacated = [o for o in ordered if o.status in VACATED]
    if len(promoted) > len(vacated):
        problems.append(f"{len(promoted)} placed after the close, but only {len(vacated)} places fell free")
    for p in promoted:
        for better in ordered:
            if better.rank >= p.rank:
                break
            skipped = better.status == ApplicationStatus.LOST and (better.reason or "").startswith("passed_over")
            if not (better.won_at_close or better.member_id in ever_placed or skipped):
                problems.append(
                    f"rank {p.rank}: {p.member_id} was placed before {better.member_id} (rank {better.rank})"
                )
    if len(vacated) > len(promoted):
        waiting = [o for o in ordered if o.status == ApplicationStatus.LOST and o.reason == "outranked"]
        if waiting:
            problems.append(
                f"a freed place was not passed on while {waiting[0].member_id} (rank {waiting[0].rank}) waits"
            )
    return problems
