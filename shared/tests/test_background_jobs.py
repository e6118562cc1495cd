"""Background jobs (kernel background.py): what each run leaves in the service's metrics and log.

`Job.forever` is what `ServiceRuntime.start` runs for every job `runtime.every` registered, on the
runtime's `KernelMetrics`. The jobs here do what the test tells them, one run at a time, and the
next run starts only when the test wakes the job (the interval is an hour): so the test reads the
metrics between runs, and nothing depends on timing. The clock the job reads is the test's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog
from incentives_kernel import background
from incentives_kernel.background import Job
from incentives_kernel.metrics import KernelMetrics
from prometheus_client import CollectorRegistry

HOUR = 3600.0
# How long a step may take before the test calls it stuck (a guard against hanging, not a measure).
STUCK_S = 30


class Clock:
    """What `time.time()` answers inside background.py; the test moves it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


class Scripted:
    """A job whose runs do what the test says (return a count or None, or raise), run by `Job.forever`."""

    def __init__(self, jobs: Jobs, name: str) -> None:
        self.jobs, self.name = jobs, name
        self.steps: asyncio.Queue[int | Exception | None] = asyncio.Queue()
        self.begun: asyncio.Queue[int] = asyncio.Queue()
        self.runs = 0
        self.job = Job(name, HOUR, self)

    async def __call__(self) -> int | None:
        self.runs += 1
        await self.begun.put(self.runs)
        step = await self.steps.get()
        if isinstance(step, Exception):
            raise step
        return step

    async def first_run(self) -> None:
        """Wait until the first run (at start) has begun."""
        assert await asyncio.wait_for(self.begun.get(), STUCK_S) == 1

    async def end_run(self, step: int | Exception | None) -> None:
        """End the current run with `step`, wake the job and wait until its next run begins: the ended
        run's metrics and log line are written by then."""
        await self.steps.put(step)
        self.job.wake()
        assert await asyncio.wait_for(self.begun.get(), STUCK_S) == self.runs, "the job did not run again"

    def value(self, metric: str) -> float | None:
        return self.jobs.registry.get_sample_value(f"incentives_points_job_{metric}", {"job_name": self.name})

    def counted(self) -> tuple[float | None, float | None, float | None]:
        """(runs, failures, last success)."""
        return self.value("runs_total"), self.value("failures_total"), self.value("last_success_timestamp_seconds")

    def lines(self) -> list[dict[str, Any]]:
        return [line for line in self.jobs.logs if line.get("job") == self.name]


class Jobs:
    """One service's metrics (as the runtime makes them), the log lines the jobs wrote, the clock."""

    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.metrics = KernelMetrics("points", self.registry)
        self.logs = logs
        self.clock = Clock()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, name: str) -> Scripted:
        scripted = Scripted(self, name)
        self.tasks.append(asyncio.create_task(scripted.job.forever(self.metrics)))
        await scripted.first_run()
        return scripted


@pytest.fixture
async def jobs(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Jobs]:
    with structlog.testing.capture_logs() as logs:
        # A fresh logger, bound under the capture (another test may have configured and cached the module's).
        monkeypatch.setattr(background, "log", structlog.get_logger(background.__name__))
        found = Jobs(logs)
        monkeypatch.setattr(background, "time", found.clock)
        try:
            yield found
        finally:
            for task in found.tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def test_a_job_that_succeeds_counts_its_runs_and_moves_its_last_success(jobs: Jobs) -> None:
    started_at = jobs.clock.now
    sweep = await jobs.start("expire_holds")
    # While the first run goes on: the job is known, started, with its interval, and nothing counted yet.
    assert sweep.value("started_timestamp_seconds") == started_at
    assert sweep.value("interval_seconds") == HOUR
    assert sweep.counted() == (0, 0, None)  # the failures at 0, not absent: increase() sees a first failure

    jobs.clock.now += 5
    await sweep.end_run(3)
    assert sweep.counted() == (1, 0, started_at + 5)
    assert sweep.lines() == [{"event": "background job done", "log_level": "info", "job": "expire_holds", "handled": 3}]

    # A run that handled nothing (or returns no count) succeeds as quietly: counted, no log line.
    jobs.clock.now += 5
    await sweep.end_run(None)
    jobs.clock.now += 5
    await sweep.end_run(0)
    assert sweep.counted() == (3, 0, started_at + 15)
    assert len(sweep.lines()) == 1


async def test_a_failing_job_is_counted_logged_and_retried_and_its_last_success_waits(jobs: Jobs) -> None:
    flaky = await jobs.start("close_rounds")
    await flaky.end_run(ConnectionError("the database went away"))  # and it runs again: a failure stops nothing
    assert flaky.counted() == (1, 1, None)

    jobs.clock.now += 60
    recovered_at = jobs.clock.now
    await flaky.end_run(2)
    assert flaky.counted() == (2, 1, recovered_at)

    # Failing again: counted, and the last success stays where it was while the clock moves on.
    jobs.clock.now += 60
    await flaky.end_run(RuntimeError("x" * 500))
    assert flaky.counted() == (3, 2, recovered_at)

    failed = {"event": "background job failed", "log_level": "warning", "job": "close_rounds"}
    assert flaky.lines() == [
        {**failed, "error": "ConnectionError", "detail": "the database went away"},
        {"event": "background job done", "log_level": "info", "job": "close_rounds", "handled": 2},
        {**failed, "error": "RuntimeError", "detail": "x" * 200},  # the message is cut: a log line stays a line
    ]


async def test_jobs_are_counted_apart_by_name(jobs: Jobs) -> None:
    good, bad = await jobs.start("age_levels"), await jobs.start("release_pushes")
    await good.end_run(1)
    await bad.end_run(ValueError("a bad row"))
    assert good.counted() == (1, 0, jobs.clock.now)
    assert bad.counted() == (1, 1, None)
