"""Token buckets for the routes that move points or stock (redemptions, adjustments, applications).

In-process: with several replicas behind a load balancer each replica keeps its own buckets, so the
effective limit is the configured one times the number of replicas. Production puts a shared limit
in front (the gateway's or the ingress's, or a Redis-backed bucket); this one still bounds what a
single replica accepts from one caller.

A rate is written `N/s`, `N/m` or `N/h`, optionally `:BURST` (default: N, at least 1); `off` disables.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*(?::\s*(\d+)\s*)?$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Rate:
    per_s: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """The rate `text` describes, or None for `off`; ValueError if it is neither."""
        if text.strip().lower() == "off":
            return None
        m = _RATE.match(text)
        if not m:
            raise ValueError(f"not a rate: {text!r}; write N/s, N/m or N/h, optionally :BURST, or off")
        count, unit, burst = float(m.group(1)), m.group(2), m.group(3)
        if count <= 0:
            raise ValueError(f"a rate must be positive: {text!r}")
        b = int(burst) if burst is not None else max(1, math.floor(count))
        if b < 1:
            raise ValueError(f"a burst must be at least 1: {text!r}")
        return cls(per_s=count / _UNIT_S[unit], burst=b)


class TokenBucket:
    """`burst` tokens, refilled at `per_s`; a call takes one. Time comes from the caller (pure)."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.updated = now

    def take(self, now: float) -> float:
        """0 if a token was taken; otherwise the seconds until one will be there (nothing taken)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_s)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate.per_s


class RateLimiter:
    """One bucket per key, at most `max_keys` of them: beyond that the least recently used is forgotten
    (it comes back full), so a flood of distinct keys costs bounded memory, never an error."""

    def __init__(self, rate: Rate, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, key: str) -> float:
        """0 if `key` may go ahead (and a token is spent), else the seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)
