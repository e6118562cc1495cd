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
    """A job whose runs do what the test says: return a count (or None), or raise."""

    def __init__(self) -> None:
        self.steps: asyncio.Queue[int | Exception | None] = asyncio.Queue()
        self.begun: asyncio.Queue[int] = asyncio.Queue()
        self.runs = 0

    async def __call__(self) -> int | None:
        self.runs += 1
        await self.begun.put(self.runs)
        step = await self.steps.get()
        if isinstance(step, Exception):
            raise step
        return step

    async def next_run(self) -> int:
        """Wait until the next run begins: the previous run's metrics and log are then written."""
        return await asyncio.wait_for(self.begun.get(), STUCK_S)


class Jobs:
    """One service's metrics (as the runtime makes them) and the log lines the jobs wrote."""

    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.metrics = KernelMetrics("points", self.registry)
        self.logs = logs
        self.clock = Clock()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, job: Scripted) -> Job:
        scheduled = Job(name, HOUR, job)
        self.tasks.append(asyncio.create_task(scheduled.forever(self.metrics)))
        return scheduled

    def value(self, metric: str, job: str) -> float | None:
        return self.registry.get_sample_value(f"incentives_points_job_{metric}", {"job_name": job})

    def lines(self, job: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line.get("job") == job]


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
    sweep = Scripted()
    started_at = jobs.clock.now
    job = jobs.start("expire_holds", sweep)
    assert await sweep.next_run() == 1
    # Before the first run ends: the job is known, started, with its interval, and nothing counted yet.
    assert jobs.value("started_timestamp_seconds", "expire_holds") == started_at
    assert jobs.value("interval_seconds", "expire_holds") == HOUR
    assert jobs.value("runs_total", "expire_holds") == 0
    assert jobs.value("failures_total", "expire_holds") == 0  # at 0, not absent: increase() sees a first failure
    assert jobs.value("last_success_timestamp_seconds", "expire_holds") is None

    jobs.clock.now += 5
    await sweep.steps.put(3)
    job.wake()
    assert await sweep.next_run() == 2
    assert jobs.value("runs_total", "expire_holds") == 1
    assert jobs.value("failures_total", "expire_holds") == 0
    assert jobs.value("last_success_timestamp_seconds", "expire_holds") == started_at + 5
    assert jobs.lines("expire_holds") == [
        {"event": "background job done", "log_level": "info", "job": "expire_holds", "handled": 3}
    ]

    # A run that handled nothing (or returns no count) succeeds as quietly: counted, no log line.
    jobs.clock.now += 5
    await sweep.steps.put(None)
    job.wake()
    assert await sweep.next_run() == 3
    jobs.clock.now += 5
    await sweep.steps.put(0)
    job.wake()
    assert await sweep.next_run() == 4
    assert jobs.value("runs_total", "expire_holds") == 3
    assert jobs.value("failures_total", "expire_holds") == 0
    assert jobs.value("last_success_timestamp_seconds", "expire_holds") == started_at + 15
    assert len(jobs.lines("expire_holds")) == 1


async def test_a_failing_job_is_counted_logged_and_retried_and_its_last_success_waits(jobs: Jobs) -> None:
    flaky = Scripted()
    job = jobs.start("close_rounds", flaky)
    assert await flaky.next_run() == 1

    await flaky.steps.put(ConnectionError("the database went away"))
    job.wake()
    assert await flaky.next_run() == 2, "a failed run must not stop the job"
    assert jobs.value("runs_total", "close_rounds") == 1
    assert jobs.value("failures_total", "close_rounds") == 1
    assert jobs.value("last_success_timestamp_seconds", "close_rounds") is None

    jobs.clock.now += 60
    recovered_at = jobs.clock.now
    await flaky.steps.put(2)
    job.wake()
    assert await flaky.next_run() == 3
    assert jobs.value("runs_total", "close_rounds") == 2
    assert jobs.value("failures_total", "close_rounds") == 1
    assert jobs.value("last_success_timestamp_seconds", "close_rounds") == recovered_at

    # Failing again: counted, and the last success stays where it was while the clock moves on.
    jobs.clock.now += 60
    await flaky.steps.put(RuntimeError("x" * 500))
    job.wake()
    assert await flaky.next_run() == 4
    assert jobs.value("runs_total", "close_rounds") == 3
    assert jobs.value("failures_total", "close_rounds") == 2
    assert jobs.value("last_success_timestamp_seconds", "close_rounds") == recovered_at

    assert jobs.lines("close_rounds") == [
        {
            "event": "background job failed",
            "log_level": "warning",
            "job": "close_rounds",
            "error": "ConnectionError",
            "detail": "the database went away",
        },
        {"event": "background job done", "log_level": "info", "job": "close_rounds", "handled": 2},
        {
            "event": "background job failed",
            "log_level": "warning",
            "job": "close_rounds",
            "error": "RuntimeError",
            "detail": "x" * 200,  # the message is cut: a log line stays a line
        },
    ]


async def test_jobs_are_counted_apart_by_name(jobs: Jobs) -> None:
    good, bad = Scripted(), Scripted()
    good_job, bad_job = jobs.start("age_levels", good), jobs.start("release_pushes", bad)
    await good.next_run()
    await bad.next_run()
    await good.steps.put(1)
    await bad.steps.put(ValueError("a bad row"))
    good_job.wake()
    bad_job.wake()
    await good.next_run()
    await bad.next_run()
    assert (jobs.value("runs_total", "age_levels"), jobs.value("failures_total", "age_levels")) == (1, 0)
    assert (jobs.value("runs_total", "release_pushes"), jobs.value("failures_total", "release_pushes")) == (1, 1)
    assert jobs.value("last_success_timestamp_seconds", "age_levels") is not None
    assert jobs.value("last_success_timestamp_seconds", "release_pushes") is None
