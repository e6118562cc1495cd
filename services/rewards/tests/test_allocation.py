"""Allocation ranking: stars, then points, then time, then the seeded lottery; re-computable and checkable."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from rewards import allocation
from rewards.allocation import Figures

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def f(member: str, stars: int, earned: int, minute: int = 0) -> Figures:
    return Figures(member, stars, earned, T0 + timedelta(minutes=minute))


def test_order_is_stars_then_points_then_time_then_lottery() -> None:
    applicants = [f("late", 3, 900, 5), f("early", 3, 900, 1), f("rich", 2, 5000), f("star", 4, 10), f("poor", 3, 100)]
    ranked = allocation.rank(applicants, seed="s", round_id="r", quota=2)
    assert [r.member_id for r in ranked] == ["star", "early", "late", "poor", "rich"]
    assert [r.won for r in ranked] == [True, True, False, False, False]
    assert not any(r.tie_broken_by_lottery for r in ranked)


def test_ties_are_ordered_by_the_hmac_ticket_of_the_seed() -> None:
    tied = [f(f"m{i}", 2, 300) for i in range(6)]
    ranked = allocation.rank(tied, seed="open-sesame", round_id="r1", quota=3)
    tickets = [allocation.ticket("open-sesame", "r1", r.member_id) for r in ranked]
    assert tickets == sorted(tickets)
    assert all(r.tie_broken_by_lottery for r in ranked)
    other_seed = allocation.rank(tied, seed="another", round_id="r1", quota=3)
    other_round = allocation.rank(tied, seed="open-sesame", round_id="r2", quota=3)
    orders = {tuple(r.member_id for r in x) for x in (ranked, other_seed, other_round)}
    assert len(orders) > 1  # the seed and the round decide, nothing else


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3000), st.integers(0, 3)), min_size=1, max_size=40))
def test_the_result_does_not_depend_on_input_order_and_verifies(figs: list[tuple[int, int, int]]) -> None:
    applicants = [f(f"m{i}", s, e, t) for i, (s, e, t) in enumerate(figs)]
    ranked = allocation.rank(applicants, seed="x", round_id="r", quota=3)
    shuffled = applicants[:]
    random.Random(len(figs)).shuffle(shuffled)
    assert allocation.rank(shuffled, seed="x", round_id="r", quota=3) == ranked
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    assert sum(r.won for r in ranked) == min(3, len(ranked))
    verdict = allocation.verify(
        round_id="r",
        seed="x",
        seed_sha256=hashlib.sha256(b"x").hexdigest(),
        quota=3,
        stored=ranked,
        stored_digest=allocation.digest(ranked),
    )
    assert verdict.matches, verdict.problems


def test_verify_notices_a_changed_figure_a_swapped_winner_and_a_swapped_seed() -> None:
    applicants = [f("a", 1, 100), f("b", 1, 100), f("c", 1, 90)]
    ranked = allocation.rank(applicants, seed="s", round_id="r", quota=1)
    good = {"round_id": "r", "seed": "s", "seed_sha256": allocation.seed_digest("s"), "quota": 1}
    first, second, third = ranked
    swapped = [
        allocation.Ranked(1, second.member_id, 1, 100, T0, second.ticket, True, True),
        allocation.Ranked(2, first.member_id, 1, 100, T0, first.ticket, False, True),
        third,
    ]
    assert not allocation.verify(**good, stored=swapped, stored_digest=allocation.digest(swapped)).matches
    assert not allocation.verify(**good, stored=ranked, stored_digest="0" * 64).matches
    bad_seed = {**good, "seed": "t"}
    assert not allocation.verify(**bad_seed, stored=ranked, stored_digest=allocation.digest(ranked)).matches


def test_application_time_is_cut_to_the_resolution() -> None:
    moment = datetime(2026, 11, 23, 9, 59, 59, 999_000, tzinfo=UTC)
    assert allocation.cut_time(moment, 1) == datetime(2026, 11, 23, 9, 59, 59, tzinfo=UTC)
    assert allocation.cut_time(moment, 3600) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert len(allocation.new_seed()) == 64 and allocation.new_seed() != allocation.new_seed()
