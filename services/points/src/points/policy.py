"""The earning policy: what each kind of civic work earns. Pure; each transfer names RULE_VERSION."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

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


DAILY_CAP = 50
CAPPED_KINDS = frozenset({"report", "rating"})


@dataclass(frozen=True, slots=True)
class CapDecision:
    credited: int
    cut: int


def apply_daily_cap(kind: str, requested: int, earned_today: int, cap: int = DAILY_CAP) -> CapDecision:
    """Report-related points (reports and ratings) are capped per member per business day."""
    if kind not in CAPPED_KINDS:
        return CapDecision(requested, 0)
    room = max(0, cap - earned_today)
    credited = min(requested, room)
    return CapDecision(credited, requested - credited)


def business_day(moment: datetime, timezone: str) -> date:
    """The day of `moment` where the district counts days (Asia/Shanghai unless configured)."""
    return moment.astimezone(ZoneInfo(timezone)).date()


LEVEL_KINDS = frozenset({"report", "rating", "volunteer"})  # earned points; adjustments are not "earned"
ALL_TIME = date(1970, 1, 1)


def period_starts(day: date) -> dict[str, date]:
    """The leaderboard periods a business day counts in."""
    return {"month": day.replace(day=1), "year": day.replace(month=1, day=1), "all": ALL_TIME}


def window_start(today: date) -> date:
    """The first day of the trailing 365 days that ends today."""
    return today - timedelta(days=364)
