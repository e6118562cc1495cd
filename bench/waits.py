"""Every wait in the harness has a deadline, and a wait that runs out says what is missing.

A benchmark that waits forever for the one event that never arrives measures nothing and hides the
bug; one that stops and names the missing ids (and where they are: parked, dead-lettered, nowhere)
is a finding. Two bounds: no progress for `stall_s`, or `limit_s` in all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bench.measure import step


class BenchTimeout(RuntimeError):
    """A wait ran out; the message says what was expected, what arrived and what is missing."""


async def until_count(
    count: Callable[[], Awaitable[int]],
    target: int,
    label: str,
    *,
    stall_s: float = 60.0,
    limit_s: float = 900.0,
    missing: Callable[[], Awaitable[str]] | None = None,
    interval_s: float = 0.1,
    alive: Callable[[], str | None] | None = None,
) -> tuple[int, float, float]:
    """Polls `count` until it reaches `target`: (first non-zero value, when it was seen, when target was).

    Raises BenchTimeout when the count has not moved for `stall_s` or `limit_s` have passed, with
    `missing()`'s description of what did not arrive; `alive()` names a process that died (then the
    wait stops at once instead of at the deadline).
    """
    started = last_move = time.perf_counter()
    first = done = 0
    t0 = 0.0
    with step(label, target) as bar:
        while True:
            value = await count()
            now = time.perf_counter()
            if value != done:
                last_move = now
            if value and not first:
                first, t0 = value, now
            done = value
            bar.update(done)
            if done >= target:
                return first, t0 or now, now
            dead = alive() if alive else None
            if dead or now - last_move > stall_s or now - started > limit_s:
                why = dead or (
                    f"no progress for {now - last_move:.0f} s" if now - last_move > stall_s else f"{limit_s:.0f} s"
                )
                detail = await missing() if missing else ""
                raise BenchTimeout(f"{label}: {done} of {target} after {now - started:.0f} s ({why}). {detail}".strip())
            await asyncio.sleep(interval_s)


def describe(ids: list[str], total: int, where: dict[str, int] | None = None, shown: int = 10) -> str:
    """'missing 3 of 2000: a, b, c; parked 2, dead-lettered 1' (at most `shown` ids)."""
    text = f"missing {len(ids)} of {total}: {', '.join(ids[:shown])}{' ...' if len(ids) > shown else ''}"
    if where:
        text += "; " + ", ".join(f"{k} {v}" for k, v in where.items())
    return text


async def gather_all(label: str, *aws: Awaitable[object]) -> list[object]:
    """Awaits every awaitable; if any failed, raises one error naming how many failed and the first reasons."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        kinds: dict[str, int] = {}
        for exc in failed:
            key = f"{type(exc).__name__}: {str(exc)[:160]}"
            kinds[key] = kinds.get(key, 0) + 1
        listed = "; ".join(f"{n} x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:5])
        raise RuntimeError(f"{label}: {len(failed)} of {len(results)} failed: {listed}") from failed[0]
    return list(results)


async def until_true(check: Callable[[], Awaitable[object]], what: str, limit_s: float = 120.0) -> None:
    """Polls `check` until it is truthy; BenchTimeout naming `what` after `limit_s`."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > limit_s:
            raise BenchTimeout(f"{what}: still not the case after {limit_s:.0f} s")
        await asyncio.sleep(0.1)


class Progress:
    """A deadline for a loop that counts something: `moved(n)` each turn raises once it stalls."""

    def __init__(self, label: str, target: int, stall_s: float = 60.0) -> None:
        self.label, self.target, self.stall_s = label, target, stall_s
        self._last, self._at = -1, time.perf_counter()

    def moved(self, done: int) -> None:
        now = time.perf_counter()
        if done != self._last:
            self._last, self._at = done, now
        elif now - self._at > self.stall_s:
            raise BenchTimeout(f"{self.label}: {done} of {self.target}, no progress for {self.stall_s:.0f} s")
