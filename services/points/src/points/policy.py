"""The earning policy: what each kind of civic work earns. Pure; each transfer names RULE_VERSION."""

from __future__ import annotations

import math

from incentives_kernel.events import ReportCategory

RULE_VERSION = "2026-11-default"

REPORT_POINTS: dict[ReportCategory, int] = {
    ReportCategory.FIRE_HAZARD: 10,
    ReportCategory.TRAFFIC_SAFETY: 8,
    ReportCategory.ELDERLY_ASSISTANCE: 8,
    ReportCategory.ROAD_DAMAGE: 6,
    ReportCategory.SHARED_BIKE_PARKING: 5,
    ReportCategory.SANITATION: 5,
    ReportCategory.PUBLIC_FACILITY: 5,
    ReportCategory.OTHER: 3,
}

RATING_POINTS = 1
POINTS_PER_HOUR = 10

STAR_THRESHOLDS = ((5, 2000), (4, 1000), (3, 500), (2, 200), (1, 50))


def report_points(category: ReportCategory) -> int:
    return REPORT_POINTS[category]


def volunteer_points(hours: float) -> int:
    """10 points per confirmed hour, counted in whole half hours (2.7 h -> 2.5 h -> 25)."""
    half_hours = math.floor(round(hours * 2, 9))
    return half_hours * POINTS_PER_HOUR // 2


def star_level(earned_365d: int) -> int:
    for level, threshold in STAR_THRESHOLDS:
        if earned_365d >= threshold:
            return level
    return 0
