"""A member's notification preferences and quiet hours, pure.

Preferences hold for the push topic and webhooks only: the inbox always gets every notification.
During quiet hours those channels are deferred to the end of the quiet period, in the member's
time zone (the service's `timezone` setting unless the member chose one), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True, slots=True)
class Preferences:
    muted_kinds: frozenset[str] = field(default_factory=frozenset)
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str | None = None  # None: the service's default

    def mutes(self, kind: str) -> bool:
        return kind in self.muted_kinds


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def quiet_until(at: datetime, prefs: Preferences, default_tz: str) -> datetime | None:
    """The end (UTC) of the quiet period `at` falls in, or None when `at` is not in quiet hours.

    A period may cross midnight (22:00-07:00). Start is inside the period, end is not. Wall times are
    read in the member's zone, so a period keeps its local hours across daylight-saving changes.
    """
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    tz = ZoneInfo(prefs.timezone or default_tz)
    local = at.astimezone(tz)
    now = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= now < end:
            return None
        end_day = local.date()
    elif now >= start:
        end_day = local.date() + timedelta(days=1)
    elif now < end:
        end_day = local.date()
    else:
        return None
    until = datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)
    return until if until > at else None
