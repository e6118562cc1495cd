"""Quiet hours: when a push or webhook waits, and until when, in the member's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from notify.preferences import Preferences, quiet_until, valid_timezone

SH = "Asia/Shanghai"
NIGHT = Preferences(quiet_start=time(22, 0), quiet_end=time(7, 0))  # crosses midnight
LUNCH = Preferences(quiet_start=time(12, 0), quiet_end=time(13, 30))


def at(local: str, tz: str = "+08:00") -> datetime:
    return datetime.fromisoformat(local + tz)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-11-21T21:59:59", None),
        ("2026-11-21T22:00:00", "2026-11-22T07:00:00"),  # the start is inside
        ("2026-11-21T23:30:00", "2026-11-22T07:00:00"),
        ("2026-11-22T00:00:00", "2026-11-22T07:00:00"),
        ("2026-11-22T06:59:59", "2026-11-22T07:00:00"),
        ("2026-11-22T07:00:00", None),  # the end is not
        ("2026-11-22T12:00:00", None),
    ],
)
def test_quiet_hours_across_midnight(now, until) -> None:
    got = quiet_until(at(now), NIGHT, SH)
    assert got == (at(until).astimezone(UTC) if until else None)
    if got is not None:
        assert got.tzinfo is UTC


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-11-21T11:59:00", None),
        ("2026-11-21T12:00:00", "2026-11-21T13:30:00"),
        ("2026-11-21T13:29:59", "2026-11-21T13:30:00"),
        ("2026-11-21T13:30:00", None),
        ("2026-11-21T23:00:00", None),
    ],
)
def test_quiet_hours_within_a_day(now, until) -> None:
    assert quiet_until(at(now), LUNCH, SH) == (at(until).astimezone(UTC) if until else None)


def test_the_time_is_read_in_the_members_zone_not_the_servers() -> None:
    utc_evening = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, 15:00 in London
    assert quiet_until(utc_evening, NIGHT, SH) == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert quiet_until(utc_evening, NIGHT, "Europe/London") is None
    london = Preferences(quiet_start=time(22, 0), quiet_end=time(7, 0), timezone="Europe/London")
    assert quiet_until(utc_evening, london, SH) is None
    assert quiet_until(datetime(2026, 11, 21, 23, 0, tzinfo=UTC), london, SH) == datetime(
        2026, 11, 22, 7, 0, tzinfo=UTC
    )


def test_daylight_saving_keeps_local_hours() -> None:
    # Europe/Berlin leaves summer time in the night of 2026-10-25: 07:00 local is then 06:00 UTC.
    berlin = Preferences(quiet_start=time(22, 0), quiet_end=time(7, 0), timezone="Europe/Berlin")
    assert quiet_until(datetime(2026, 10, 24, 21, 0, tzinfo=UTC), berlin, SH) == datetime(
        2026, 10, 25, 6, 0, tzinfo=UTC
    )


def test_no_quiet_hours() -> None:
    assert quiet_until(at("2026-11-21T23:00:00"), Preferences(), SH) is None
    same = Preferences(quiet_start=time(8, 0), quiet_end=time(8, 0))
    assert quiet_until(at("2026-11-21T08:00:00"), same, SH) is None


def test_mutes() -> None:
    prefs = Preferences(muted_kinds=frozenset({"points_capped"}))
    assert prefs.mutes("points_capped")
    assert not prefs.mutes("points_credited")


@pytest.mark.parametrize(("zone", "ok"), [("Asia/Shanghai", True), ("UTC", True), ("Mars/Olympus", False), ("", False)])
def test_valid_timezone(zone, ok) -> None:
    assert valid_timezone(zone) is ok
