"""Background jobs: one loop for every timer, sweep and worker a service runs beside its consumer.

A service registers its jobs with `runtime.every(name, interval_s, job)` (in its jobs.py); the
runtime runs each as a task for the process's lifetime with `Job.forever`. A job is an async
callable returning how many things it handled (None: not a count). One run at a time: run, then
wait `interval_s` or until `wake()`; with `again_at`, a run that handled that many or more is
followed at once by the next, so a backlog drains without waiting. A failure is logged and
counted and never stops the process: the next run retries. Every job has the same log lines
(`background job done`, `background job failed`, with `job=<name>`) and the same metrics
(metrics.py: runs, failures, last success, start and interval, labelled `job_name`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from .metrics import KernelMetrics

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class Job:
    """A background job: `run` now and then, every `interval_s` seconds or sooner when woken."""

    name: str
    interval_s: float
    run: Callable[[], Awaitable[int | None]]
    again_at: int | None = None
    _bell: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """Run again now rather than after the interval (a commit left it work)."""
        self._bell.set()

    async def forever(self, metrics: KernelMetrics | None = None) -> None:
        """Run until cancelled; `metrics`: the service's (`..._job_runs_total` and friends, by job_name)."""
        if metrics is not None:
            metrics.job_started.labels(self.name).set(time.time())
            metrics.job_interval.labels(self.name).set(self.interval_s)
            # Both counters exist at 0 from the start, so increase() counts a process's first failure.
            metrics.job_runs.labels(self.name)
            metrics.job_failures.labels(self.name)
        while True:
            handled: int | None = None
            try:
                handled = await self.run()
            except Exception as exc:  # the next run retries; a failing job must not stop the process
                if metrics is not None:
                    metrics.job_failures.labels(self.name).inc()
                log.warning("background job failed", job=self.name, error=type(exc).__name__, detail=str(exc)[:200])
            else:
                if metrics is not None:
                    metrics.job_last_success.labels(self.name).set(time.time())
                if handled:
                    log.info("background job done", job=self.name, handled=handled)
            if metrics is not None:
                metrics.job_runs.labels(self.name).inc()
            if self.again_at is not None and handled is not None and handled >= self.again_at:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bell.wait(), timeout=self.interval_s)
            self._bell.clear()
