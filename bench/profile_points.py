"""Where a service's time goes: M1's drain with points, or M6's fan-out with notify, under py-spy.

py-spy is the service's parent (`py-spy record -- python -m incentives_ops.cli serve points`), so
it needs no ptrace rights beyond its own child. It samples at 100 Hz, idle frames excluded, and
writes collapsed stacks (`profile-points.txt`); this module sums them into the top functions by own
time and by inclusive time, in `profile-points.md` (`profile-notify.*` for notify).

    uv run python -m bench.profile_points [N] [M]          # M1, default 20000 events, 10000 members
    uv run python -m bench.profile_points notify [N] [M]   # M6, default 10000 events, 5000 members
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
from incentives_ops.stack import Stack

from bench import fanout, points_ledger
from bench.measure import note

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
TOP = 30
# The first marker found in a stack names its kind (checked in this order).
KINDS = (
    ("EpollSelector.select", "the event loop waiting on its sockets (PostgreSQL, Kafka, HTTP replies)"),
    ("asyncpg/", "asyncpg: sending statements to PostgreSQL and reading their results"),
    ("aiokafka/", "aiokafka: fetching and producing"),
    ("pydantic", "pydantic: validating and serialising"),
    ("json/", "json: encoding and decoding"),
)
LINE = re.compile(r":\d+\)$")


class ServiceChild:
    """The service process under py-spy (py-spy's child, not ours), with the Popen calls Stack makes."""

    def __init__(self, proc: psutil.Process) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not self._proc.is_running():
            self.returncode = 0
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            self._proc.send_signal(sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        try:
            self._proc.wait(timeout)
        except psutil.TimeoutExpired as exc:
            raise subprocess.TimeoutExpired("points", timeout or 0) from exc
        except psutil.NoSuchProcess:
            pass
        self.returncode = 0
        return 0


def start_under_py_spy(raw: Path, service: str = "points") -> tuple[list[subprocess.Popen[bytes]], object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(stack: Stack) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        log = (stack.logs / f"{service}.log").open("ab")
        proc = subprocess.Popen(
            [
                spy,
                "record",
                "--format",
                "raw",
                "--rate",
                "100",
                "--output",
                str(raw),
                "--",
                sys.executable,
                "-m",
                "incentives_ops.cli",
                "serve",
                service,
            ],
            env=stack.service_env(service),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        # py-spy leads its own session: bench.lifecycle kills it with the stack on Ctrl-C.
        stack.extra_procs = [*getattr(stack, "extra_procs", []), proc]  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        # The service itself, so that RSS and CPU are read from it (and stop() signals it, not py-spy).
        stack.procs[service] = ServiceChild(psutil.Process(proc.pid).children()[0])  # type: ignore[assignment]

    return started, start


def summarize(raw: Path, top: int = TOP, service: str = "points", under: str = "M1") -> str:
    ours_re = re.compile(rf"\((incentives_kernel|{service})/")
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    total = imports = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        if "<frozen importlib" in stack:  # the process starting (imports), not the drain
            imports += n
            continue
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        # The project's functions whatever the line (a function appears at one line per await in it).
        for function in {LINE.sub(")", f) for f in frames if ours_re.search(f)}:
            ours[function] += n
        kinds[next((name for marker, name in KINDS if marker in stack), "other Python")] += n
    lines = [
        f"# {service.capitalize()} service under {under}: where the time goes",
        "",
        f"py-spy, 100 Hz, {total:,} samples (py-spy without --idle; {imports:,} more samples of"
        f" start-up imports left out); raw collapsed stacks in `profile-{service}.txt` beside this file"
        " after a run (not committed: 1.5 MB; flamegraph.pl reads them).",
        "",
        "## Where the samples are",
        "",
        "| share | samples | in |",
        "|---|---|---|",
        *([f"| {n / total:.1%} | {n:,} | {k} |" for k, n in kinds.most_common()] if total else []),
        "",
        "## Top functions by own time",
        "",
        "| share | samples | function (file:line) |",
        "|---|---|---|",
    ]
    lines += [f"| {n / total:.1%} | {n:,} | `{f}` |" for f, n in own.most_common(top)] if total else []
    lines += [
        "",
        "## The project's own functions by inclusive time",
        "",
        f"(the kernel and the {service} service, lines of a function added up)",
        "",
        "| share | samples | function |",
        "|---|---|---|",
    ]
    lines += [f"| {n / total:.1%} | {n:,} | `{f}` |" for f, n in ours.most_common(top)] if total else []
    lines += ["", "## Top functions by inclusive time", "", "| share | samples | function |", "|---|---|---|"]
    lines += [f"| {n / total:.1%} | {n:,} | `{f}` |" for f, n in inclusive.most_common(top)] if total else []
    return "\n".join(lines) + "\n"


def _wait_for(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:  # the service stopped with the stack: py-spy writes its file and exits
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)


async def main(n: int = 20000, m: int = 10000, out: Path = DOCS) -> dict[str, object]:
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    raw = out / "profile-points.txt"
    spies, start = start_under_py_spy(raw)
    result = await points_ledger.one_run(n, m, districts=50, naive=0, start_points=start)  # type: ignore[arg-type]
    _wait_for(spies)
    if not raw.exists():
        raise RuntimeError(f"py-spy wrote no profile to {raw}; see the points log")
    (out / "profile-points.md").write_text(summarize(raw))
    note(f"wrote {out}/profile-points.md (M1 under the profiler: {result['events_per_s']} events/s)")
    return result


async def notify_main(n: int = 10000, m: int = 5000, out: Path = DOCS) -> dict[str, object]:
    """M6 (one notify process) with notify under py-spy: `profile-notify.md`."""
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    raw = out / "profile-notify.txt"
    spies, start = start_under_py_spy(raw, "notify")
    result = await fanout.main(n, m, start_notify=start)  # type: ignore[arg-type]
    _wait_for(spies)
    if not raw.exists():
        raise RuntimeError(f"py-spy wrote no profile to {raw}; see the notify log")
    (out / "profile-notify.md").write_text(summarize(raw, service="notify", under="M6"))
    note(f"wrote {out}/profile-notify.md (M6 under the profiler: {result['notifications_per_s']} notifications/s)")
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["notify"]:
        asyncio.run(notify_main(*[int(a) for a in sys.argv[2:4]]))
    else:
        asyncio.run(main(*[int(a) for a in sys.argv[1:3]]))
