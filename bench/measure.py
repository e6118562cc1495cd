"""How every benchmark measures: percentiles, a process's CPU and peak memory, the machine, progress."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# stderr, so a run's stdout stays the JSON it prints; live only on a terminal (plain lines elsewhere).
console = Console(stderr=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of samples in seconds (nearest rank)."""
    ordered = sorted(samples)
    if not ordered:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "count": 0}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "max_ms": pick(1.0),
        "count": len(ordered),
    }


def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water resident set (VmHWM), read before it exits."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def _cpu_seconds(pid: int, with_children: bool) -> float:
    """user + system CPU of a process (and of its live children: PostgreSQL's backends)."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if with_children else [proc]
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
    return total


@dataclass
class CpuMeter:
    """CPU seconds each named process spends between start() and stop()."""

    pids: dict[str, int]
    with_children: frozenset[str] = frozenset({"postgresql"})
    _start: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self._start = {n: _cpu_seconds(p, n in self.with_children) for n, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        self.spent = {
            n: max(0.0, _cpu_seconds(p, n in self.with_children) - self._start[n]) for n, p in self.pids.items()
        }
        return self.spent

    def per_1000(self, events: int) -> dict[str, float]:
        return {n: round(s * 1000 / events, 3) for n, s in self.spent.items()} if events else {}


def stack_pids(stack: object) -> dict[str, int]:
    """The processes of an embedded stack worth metering: its services, PostgreSQL's postmaster, Tansu."""
    pids = {name: proc.pid for name, proc in getattr(stack, "procs", {}).items()}
    pg = getattr(stack, "pg", None)
    if pg is not None:
        with contextlib.suppress(OSError, ValueError):
            pids["postgresql"] = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    tansu = getattr(stack, "tansu", None)
    if tansu is not None and tansu.pid:
        pids["tansu"] = tansu.pid
    return pids


def machine(pg_version: str | None = None) -> dict[str, object]:
    """What the numbers were measured on, so a reader can tell a laptop from a shared 2-vCPU VM."""
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = {}
    for name in ("aiokafka", "asyncpg", "faststream", "pydantic", "fastapi", "uvicorn", "prometheus-client"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "tansu": tansu_version(),
        "packages": packages,
    }


def tansu_version() -> str | None:
    with contextlib.suppress(Exception):
        from incentives_ops.embedded import tansu_binary

        out = subprocess.run([tansu_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    return None


class Step:
    """One live line of the progress display: a counter towards a total, its rate and an ETA."""

    def __init__(self, progress: Progress, label: str, total: int | None) -> None:
        self._progress = progress
        self._task = progress.add_task(label, total=total)
        self._last_line = 0.0
        self._label = label
        self._total = total

    def update(self, done: int) -> None:
        self._progress.update(self._task, completed=done)
        if not console.is_terminal and time.monotonic() - self._last_line > 5:  # a log file: a line every 5 s
            console.print(f"  {self._label}: {done}/{self._total}")
            self._last_line = time.monotonic()


@contextlib.contextmanager
def step(label: str, total: int | None = None) -> Iterator[Step]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as progress:
        yield Step(progress, label, total)


def note(message: str) -> None:
    console.print(message)


# Keys whose values are kept from the median run as they are (lists, nested descriptions).
KEEP_WHOLE = frozenset(
    {"pg_work", "l1_copy", "expected", "guard", "steps", "ledger_latency_by_second", "machine", "runs", "tables"}
)


def combine(runs: list[dict[str, Any]], by: str) -> dict[str, Any]:
    """Runs of one figure as one: every number the median of the runs, with `_min` and `_max` siblings.

    Anything that is not a number (and the keys in KEEP_WHOLE) is taken from the median run by `by`.
    """
    if not runs:
        return {}
    ranked = sorted(runs, key=lambda r: _num(_get(r, by)) or 0.0)
    median_run = ranked[(len(ranked) - 1) // 2]

    def merge(parts: list[Any], template: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = list(template) + [k for p in parts if isinstance(p, dict) for k in p if k not in template]
        for key in dict.fromkeys(keys):
            value = template.get(key)
            values = [p.get(key) if isinstance(p, dict) else None for p in parts]
            if key in KEEP_WHOLE:
                out[key] = value
                continue
            dicts = [v for v in values if isinstance(v, dict)]
            if dicts:
                out[key] = merge(values, value if isinstance(value, dict) else dicts[0])
                continue
            nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            if not nums:
                out[key] = value
                continue
            whole = all(isinstance(v, int) for v in values if v is not None)
            med = statistics.median(nums)
            out[key] = round(med) if whole else round(med, 4)
            out[f"{key}_min"] = round(min(nums)) if whole else round(min(nums), 4)
            out[f"{key}_max"] = round(max(nums)) if whole else round(max(nums), 4)
        return out

    merged = merge(runs, median_run)
    merged["repeats"] = len(runs)
    return merged


def spread(values: list[float | None]) -> tuple[float | None, float | None, float | None]:
    """(median, min, max) of the values that are numbers."""
    nums = [float(v) for v in values if isinstance(v, int | float)]
    if not nums:
        return None, None, None
    return round(statistics.median(nums), 4), round(min(nums), 4), round(max(nums), 4)


def _get(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)  # type: ignore[assignment]
    return d


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
