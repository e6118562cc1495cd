"""The daily cap on report-related points, and the business day it is counted in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from incentives_kernel import standing
from points import policy


def test_reports_and_ratings_are_capped_volunteering_is_not() -> None:
    assert policy.apply_daily_cap("report", 10, 45) == policy.CapDecision(credited=5, cut=5)
    assert policy.apply_daily_cap("rating", 1, 50) == policy.CapDecision(credited=0, cut=1)
    assert policy.apply_daily_cap("volunteer", 240, 50) == policy.CapDecision(credited=240, cut=0)
    assert policy.apply_daily_cap("report", 10, 0) == policy.CapDecision(credited=10, cut=0)


@given(st.lists(st.tuples(st.sampled_from(["report", "rating"]), st.integers(min_value=1, max_value=10)), max_size=40))
def test_a_day_never_credits_more_than_the_cap_and_nothing_is_unaccounted(earnings: list[tuple[str, int]]) -> None:
    earned = 0
    for kind, amount in earnings:
        decision = policy.apply_daily_cap(kind, amount, earned)
        assert decision.credited + decision.cut == amount
        assert decision.credited >= 0 and decision.cut >= 0
        earned += decision.credited
        assert earned <= policy.DAILY_CAP
    assert earned == min(policy.DAILY_CAP, sum(a for _, a in earnings))


def test_the_business_day_is_shanghais_not_utcs() -> None:
    late_utc = datetime(2026, 11, 21, 16, 30, tzinfo=UTC)  # 00:30 on the 22nd in Shanghai
    assert standing.business_day(late_utc, "Asia/Shanghai") == date(2026, 11, 22)
    assert standing.business_day(late_utc, "UTC") == date(2026, 11, 21)
    just_before = datetime(2026, 11, 21, 23, 59, 59, tzinfo=timezone(timedelta(hours=8)))
    assert standing.business_day(just_before, "Asia/Shanghai") == date(2026, 11, 21)
