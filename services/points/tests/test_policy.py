"""The default earning policy of the contract."""

from __future__ import annotations

import pytest
from incentives_kernel.events import ReportCategory
from points import policy

CONTRACT_REPORT_POINTS = {
    "fire_hazard": 10,
    "traffic_safety": 8,
    "elderly_assistance": 8,
    "road_damage": 6,
    "shared_bike_parking": 5,
    "sanitation": 5,
    "public_facility": 5,
    "other": 3,
}


@pytest.mark.parametrize(("category", "points"), sorted(CONTRACT_REPORT_POINTS.items()))
def test_report_points_per_category(category, points) -> None:
    assert policy.report_points(ReportCategory(category)) == points


def test_every_category_has_an_amount() -> None:
    assert {c.value for c in ReportCategory} == set(CONTRACT_REPORT_POINTS)
    assert {c.value: v for c, v in policy.REPORT_POINTS.items()} == CONTRACT_REPORT_POINTS


def test_rating_earns_one_point() -> None:
    assert policy.RATING_POINTS == 1


def test_rule_version_is_named() -> None:
    assert isinstance(policy.RULE_VERSION, str)
    assert policy.RULE_VERSION


@pytest.mark.parametrize(
    ("hours", "points"),
    [
        (2.7, 25),
        (0.4, 0),
        (0.49, 0),
        (0.5, 5),
        (0.99, 5),
        (1, 10),
        (1.5, 15),
        (2.5, 25),
        (3.0, 30),
        (7.25, 70),
        (23.9, 235),
        (24, 240),
        (0.1 + 0.2 + 0.2, 5),  # 0.5000000000000001
        (0.7 + 0.8, 15),  # 1.5, computed
        (1.1 * 3, 30),  # 3.3000000000000003
        (3 * 0.1 * 5, 15),  # 1.5000000000000002
        (2.9999999999999996, 30),  # float noise just below a whole half hour still counts it
        (0.30000000000000004 + 0.2, 5),
    ],
)
def test_volunteer_points_in_whole_half_hours(hours, points) -> None:
    assert policy.volunteer_points(hours) == points


def test_volunteer_points_are_monotonic_and_integer() -> None:
    previous = -1
    for i in range(0, 2401):
        hours = i / 100
        pts = policy.volunteer_points(hours)
        assert isinstance(pts, int)
        assert pts >= previous
        assert pts % 5 == 0
        assert pts <= hours * policy.POINTS_PER_HOUR + 1e-9
        previous = pts


@pytest.mark.parametrize(
    ("earned", "level"),
    [
        (-10, 0),
        (0, 0),
        (49, 0),
        (50, 1),
        (199, 1),
        (200, 2),
        (499, 2),
        (500, 3),
        (999, 3),
        (1000, 4),
        (1999, 4),
        (2000, 5),
        (10**9, 5),
    ],
)
def test_star_level_thresholds(earned, level) -> None:
    assert policy.star_level(earned) == level
