"""Token buckets: rate parsing, refill, burst, Retry-After, and bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from incentives_kernel.ratelimit import Rate, RateLimiter, TokenBucket


@pytest.mark.parametrize(
    ("text", "per_s", "burst"),
    [("10/s:20", 10.0, 20), ("10/s", 10.0, 10), ("60/m", 1.0, 60), ("2/h:3", 2 / 3600, 3), ("0.5/s", 0.5, 1)],
)
def test_parse(text: str, per_s: float, burst: int) -> None:
    assert Rate.parse(text) == Rate(per_s, burst)


def test_off_disables() -> None:
    assert Rate.parse(" OFF ") is None


@pytest.mark.parametrize("text", ["", "10", "10/d", "-1/s", "0/s", "ten/s", "10/s:0", "10/s:x"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        Rate.parse(text)


def test_burst_then_refill_at_the_rate() -> None:
    bucket = TokenBucket(Rate(per_s=2.0, burst=3), now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)  # the 4th waits half a second
    assert bucket.take(100.25) == pytest.approx(0.25)  # nothing was taken by the refused call
    assert bucket.take(100.5) == 0.0
    assert bucket.take(1000.0) == 0.0
    # refill never exceeds the burst
    assert [bucket.take(1000.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_time_going_backwards_does_not_mint_tokens() -> None:
    bucket = TokenBucket(Rate(per_s=1.0, burst=1), now=10.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) > 0


@given(
    per_s=st.floats(0.1, 100),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(per_s: float, burst: int, gaps: list[float]) -> None:
    bucket = TokenBucket(Rate(per_s, burst), now=0.0)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += bucket.take(now) == 0.0
        assert allowed <= burst + per_s * now + 1e-6


def test_limiter_keys_are_independent_and_memory_is_bounded() -> None:
    clock = [0.0]
    limiter = RateLimiter(Rate(per_s=1.0, burst=1), clock=lambda: clock[0], max_keys=3)
    assert limiter.check("a") == 0.0
    assert limiter.check("a") == pytest.approx(1.0)
    assert limiter.check("b") == 0.0
    for key in ("c", "d", "e"):
        limiter.check(key)
    assert len(limiter) == 3
    # "a" was the least recently used and is forgotten: it comes back with a full bucket
    assert limiter.check("a") == 0.0
