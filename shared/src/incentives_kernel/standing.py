"""How a member's standing is counted: points decides it, rewards ranks by it; both count days alike.

Points earned count on the business day (in the district's timezone) of the event that earned them,
and a star level looks at the trailing 365 days that end today.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# Earned points (a need's rating point too); adjustments and refunds are not "earned".
LEVEL_KINDS = frozenset({"report", "rating", "need_rating", "volunteer"})
WINDOW_DAYS = 365


def business_day(moment: datetime, timezone: str) -> date:
    """The day of `moment` where the district counts days (Asia/Shanghai unless configured)."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def window_start(today: date) -> date:
    """The first day of the trailing 365 days that ends today."""
    return today - timedelta(days=WINDOW_DAYS - 1)
