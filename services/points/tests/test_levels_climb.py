"""Level moves along a run of earned entries posted at once (points.levels.climb): as counting them
one after another would announce them."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st
from points import policy
from points.levels import Entry, LevelMove, Standing, climb

FIRST = date(2025, 11, 24)  # the window's first day
IN, OUT = FIRST + timedelta(days=300), FIRST - timedelta(days=1)


def standing(entries: list[Entry], before: dict[str, int], announced: dict[str, int] | None = None) -> Standing:
    """Where members stand once `entries` are counted, from their 365-day figures `before` the run."""
    after = dict(before)
    for e in entries:
        if e.day >= FIRST:
            after[e.member_id] += e.delta
    return Standing(after, announced or dict.fromkeys(before, 0), FIRST)


def test_a_level_moves_at_the_entry_that_crosses_its_threshold_with_the_figure_there() -> None:
    run = [Entry("m", "d", IN, 30), Entry("m", "d", IN, 30), Entry("m", "d", IN, 200)]
    assert climb(run, standing(run, {"m": 0}), policy.DEFAULT) == [None, LevelMove(0, 1, 60), LevelMove(1, 2, 260)]


def test_points_earned_before_the_window_move_no_level() -> None:
    run = [Entry("m", "d", OUT, 100), Entry("m", "d", IN, 10)]
    assert climb(run, standing(run, {"m": 40}), policy.DEFAULT) == [None, LevelMove(0, 1, 50)]


def test_a_reversal_moves_the_level_down_and_members_climb_apart() -> None:
    run = [Entry("a", "d", IN, -20), Entry("b", "d", IN, 60), Entry("a", "d", IN, 20)]
    moves = climb(run, standing(run, {"a": 60, "b": 0}, {"a": 1, "b": 0}), policy.DEFAULT)
    assert moves == [LevelMove(1, 0, 40), LevelMove(0, 1, 60), LevelMove(0, 1, 60)]


ENTRIES = st.lists(
    st.builds(
        Entry,
        member_id=st.sampled_from("ab"),
        district=st.just("d"),
        day=st.sampled_from([OUT, FIRST, IN]),
        delta=st.integers(-300, 600),
    ),
    max_size=10,
)


@given(run=ENTRIES, before=st.fixed_dictionaries({"a": st.integers(0, 2500), "b": st.integers(0, 2500)}))
def test_climb_announces_what_counting_one_entry_after_another_would(run: list[Entry], before: dict[str, int]) -> None:
    announced = {m: policy.star_level(v) for m, v in before.items()}
    figure, level, one_by_one = dict(before), dict(announced), []
    for e in run:
        if e.day >= FIRST:
            figure[e.member_id] += e.delta
        now = policy.star_level(figure[e.member_id])
        one_by_one.append(
            LevelMove(level[e.member_id], now, figure[e.member_id]) if now != level[e.member_id] else None
        )
        level[e.member_id] = now
    assert climb(run, standing(run, before, announced), policy.DEFAULT) == one_by_one
