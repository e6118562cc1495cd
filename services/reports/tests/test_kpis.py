"""Department KPIs, pure: a window with figures worked out by hand, and each definition on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from reports.kpis import Case, CaseRating, Department, Step, Tally, Window, present, report, tally

T0 = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(days=30))
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def case(
    case_id: str,
    steps: list[tuple[str, str | None, timedelta]],
    *,
    submitted: timedelta = timedelta(0),
    sla: timedelta = 7 * DAY,
    district: str | None = "nanqu",
    kind: str = "report",
    ratings: list[tuple[int, str | None, timedelta]] = (),  # type: ignore[assignment]
) -> Case:
    """Steps as (status, held_by after it, offset from T0), after the submitted step."""
    at = T0 + submitted
    return Case(
        kind=kind,
        case_id=case_id,
        district=district,
        submitted_at=at,
        due_at=at + sla,
        steps=(Step("submitted", None, at), *(Step(s, d, T0 + off) for s, d, off in steps)),
        ratings=tuple(CaseRating(r, d, T0 + off) for r, d, off in ratings),
    )


def the_month() -> list[Case]:
    return [
        # D1 resolves on time in 48 h; rated 5.
        case(
            "r1",
            [("dispatched", "D1", HOUR), ("accepted", "D1", 2 * HOUR), ("resolved", "D1", 48 * HOUR)],
            ratings=[(5, "D1", 50 * HOUR)],
        ),
        # Transferred twice (D1 -> D2 -> D3), resolved late by D3 after 9 days.
        case(
            "r2",
            [
                ("dispatched", "D1", DAY),
                ("dispatched", "D2", 2 * DAY),
                ("accepted", "D2", 3 * DAY),
                ("dispatched", "D3", 4 * DAY),
                ("resolved", "D3", 9 * DAY),
            ],
        ),
        # A need: D2 resolves in 10 h, rated 2, reopened (bad rating), resolved again at 30 h, rated 4.
        case(
            "n1",
            [
                ("dispatched", "D2", HOUR),
                ("resolved", "D2", 10 * HOUR),
                ("reopened", "D2", 12 * HOUR),
                ("dispatched", "D2", 13 * HOUR),
                ("resolved", "D2", 30 * HOUR),
            ],
            kind="need",
            ratings=[(2, "D2", 11 * HOUR), (4, "D2", 31 * HOUR)],
        ),
        # Open on D1's desk past its due date at the window's end.
        case("r3", [("dispatched", "D1", 2 * DAY)], submitted=DAY),
        # Rejected by D1.
        case("r4", [("dispatched", "D1", 3 * DAY), ("rejected", "D1", 4 * DAY)], submitted=3 * DAY),
        # Rejected by dispatch before any department: nobody's.
        case("r5", [("rejected", None, 5 * DAY)], submitted=5 * DAY),
        # Open, not yet due at the window's end (submitted on the last day).
        case("r6", [("dispatched", "D3", 29 * DAY + HOUR)], submitted=29 * DAY),
        # Before the window: received and resolved in November; its rating in the window still counts.
        case(
            "r0",
            [("dispatched", "D1", -10 * DAY), ("resolved", "D1", -9 * DAY)],
            submitted=-11 * DAY,
            ratings=[(3, "D1", DAY)],
        ),
        # In another district: counts only without a district filter.
        case("b1", [("dispatched", "D1", DAY), ("resolved", "D1", 2 * DAY)], submitted=DAY, district="beiqu"),
    ]


def test_a_month_with_known_figures() -> None:
    t = tally(the_month(), WINDOW, district="nanqu")
    assert set(t) == {"D1", "D2", "D3"}
    d1, d2, d3 = t["D1"], t["D2"], t["D3"]
    # D1: received r1, r2, r3, r4; resolved r1 on time (48 h); rejected r4; r3 overdue; rated r1 (5), r0 (3)
    assert (d1.received, d1.resolved, d1.resolved_on_time, d1.rejected, d1.overdue_open) == (4, 1, 1, 1, 1)
    assert (d1.ratings, d1.rating_sum, d1.reopened, d1.median_hours) == (2, 8, 0, 48.0)
    # D2: received r2 and n1 (n1 came back to it after the reopening: still one case); resolved n1 twice
    # (10 h and 30 h), both on time; reopened once; rated 2 and 4.
    assert (d2.received, d2.resolved, d2.resolved_on_time, d2.rejected, d2.overdue_open) == (2, 2, 2, 0, 0)
    assert (d2.ratings, d2.rating_sum, d2.reopened, d2.median_hours) == (2, 6, 1, 20.0)
    # D3: received r2 and r6; resolved r2 late (due on day 7); r6 not due yet.
    assert (d3.received, d3.resolved, d3.resolved_on_time, d3.overdue_open) == (2, 1, 0, 0)
    assert d3.median_hours == 9 * 24  # r2 was submitted on day 0, resolved on day 9

    rows = {k.department_id: k for k in report(t, {"D1": Department("D1", "南区消防站", ("nanqu",))})}
    assert rows["D1"].name == "南区消防站" and rows["D1"].registered
    assert rows["D1"].on_time_rate == 1.0 and rows["D1"].average_rating == 4.0
    assert rows["D2"].on_time_rate == 1.0 and rows["D2"].average_rating == 3.0 and not rows["D2"].registered
    assert rows["D3"].on_time_rate == 0.0 and rows["D3"].average_rating is None
    assert rows["D2"].median_hours_to_resolve == 20.0


def test_without_a_district_every_case_counts() -> None:
    t = tally(the_month(), WINDOW)
    assert (t["D1"].received, t["D1"].resolved, t["D1"].median_hours) == (5, 2, 36.0)  # 48 h and 24 h (b1)


def test_a_window_of_one_day() -> None:
    day2 = Window(T0 + DAY, T0 + 2 * DAY)
    t = tally(the_month(), day2, district="nanqu")
    # r2 came to D1 on day 1; r1 (rated at 50 h) is outside; r0's rating on day 1 is inside.
    assert t["D1"].received == 1
    assert (t["D1"].ratings, t["D1"].rating_sum) == (1, 3)
    assert t["D2"].resolved == 1 and t["D2"].median_hours == 30.0  # n1's second resolution at 30 h


def test_overdue_is_the_state_at_the_window_end() -> None:
    late = case("x", [("dispatched", "D1", HOUR), ("resolved", "D1", 20 * DAY)])
    assert tally([late], Window(T0, T0 + 10 * DAY))["D1"].overdue_open == 1  # open and past due on day 10
    assert tally([late], Window(T0, T0 + 21 * DAY))["D1"].overdue_open == 0  # resolved by then
    assert tally([late], Window(T0, T0 + 7 * DAY))["D1"].overdue_open == 0  # due exactly at the end: not yet past


def test_overdue_belongs_to_the_department_holding_it_at_the_end() -> None:
    moved = case("x", [("dispatched", "D1", HOUR), ("dispatched", "D2", 8 * DAY)])
    assert tally([moved], Window(T0, T0 + 9 * DAY))["D2"].overdue_open == 1
    assert tally([moved], Window(T0, T0 + 9 * DAY))["D1"].overdue_open == 0
    assert tally([moved], Window(T0, T0 + 7 * DAY + HOUR))["D1"].overdue_open == 1


def test_the_resolving_step_may_name_the_department() -> None:
    direct = case("x", [("resolved", "D1", 5 * HOUR)])
    t = tally([direct], WINDOW)["D1"]
    assert (t.received, t.resolved, t.median_hours) == (1, 1, 5.0)


def test_a_rejection_naming_a_department_is_that_departments() -> None:
    t = tally([case("x", [("dispatched", "D1", HOUR), ("rejected", "D2", 2 * HOUR)])], WINDOW)
    assert (t["D2"].rejected, t["D1"].rejected, t["D2"].received) == (1, 0, 1)


def test_a_reopening_that_moves_the_case_belongs_to_the_department_that_resolved_it() -> None:
    steps = [("dispatched", "D1", HOUR), ("resolved", "D1", 2 * HOUR), ("reopened", "D2", 3 * HOUR)]
    t = tally([case("x", steps)], WINDOW)
    assert (t["D1"].reopened, t["D2"].reopened, t["D2"].received) == (1, 0, 1)


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    cases = [case(f"x{h}", [("resolved", "D1", h * HOUR)]) for h in (1, 2, 4, 10)]
    assert tally(cases, WINDOW)["D1"].median_hours == 3.0


def test_steps_and_ratings_on_the_window_edges() -> None:
    edge = case(
        "x",
        [("dispatched", "D1", timedelta(0)), ("resolved", "D1", 30 * DAY)],
        ratings=[(4, "D1", timedelta(0)), (1, "D1", 30 * DAY)],
    )
    t = tally([edge], WINDOW)["D1"]
    assert (t.received, t.resolved, t.ratings, t.rating_sum) == (1, 0, 1, 4)  # start in, end out


def test_a_later_window_without_steps_shows_only_what_is_still_overdue() -> None:
    t = tally(the_month(), Window(T0 + 100 * DAY, T0 + 101 * DAY))
    assert {d: (x.overdue_open, x.received + x.resolved + x.rejected + x.ratings) for d, x in t.items()} == {
        "D1": (1, 0),  # r3
        "D3": (1, 0),  # r6
    }
    assert tally(the_month(), Window(T0 - 100 * DAY, T0 - 99 * DAY)) == {}


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T0, T0, "must end after it starts"),
        (T0 + DAY, T0, "must end after it starts"),
        (T0.replace(tzinfo=None), T0 + DAY, "offset"),
    ],
)
def test_a_window_is_checked(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window(start, end)


def test_present_rounds_and_says_null_when_there_is_nothing_to_divide() -> None:
    k = present("D9", Tally(resolved=3, resolved_on_time=2, ratings=3, rating_sum=13, median_hours=10.123456), {})
    assert (k.on_time_rate, k.average_rating, k.median_hours_to_resolve) == (0.6667, 4.33, 10.12)
    assert (k.name, k.registered) == ("D9", False)
    empty = present("D9", Tally(), {})
    assert (empty.on_time_rate, empty.average_rating, empty.median_hours_to_resolve) == (None, None, None)


def test_report_shows_registered_departments_at_zero_and_only_those_serving_the_district() -> None:
    registry = {
        "fire": Department("fire", "消防", ()),  # serves every district
        "nq-office": Department("nq-office", "南区街道办", ("nanqu",)),
        "bq-office": Department("bq-office", "北区街道办", ("beiqu",)),
    }
    rows = report({"some label": Tally(received=1)}, registry, district="nanqu")
    assert [(r.department_id, r.registered) for r in rows] == [
        ("fire", True),
        ("nq-office", True),
        ("some label", False),
    ]
    assert rows[0].received == 0 and rows[0].on_time_rate is None
    assert {r.department_id for r in report({}, registry)} == set(registry)
