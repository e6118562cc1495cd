"""Ctrl-C (SIGINT) and SIGTERM stop a benchmark run and tear down every stack it started, promptly.

The services and Tansu run in sessions of their own (so a terminal's Ctrl-C never reaches them) and
PostgreSQL is daemonised by pg_ctl: without this, an interrupted run leaves them all behind. Each
stack the harness starts is registered here; the first signal cancels the run (its `finally` blocks
stop their stacks as usual) and, after a grace period, whatever is still registered is killed and
the process exits 130; a second signal skips the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_live: dict[int, Any] = {}  # id(stack) -> Stack
_lock = threading.Lock()
GRACE_S = 20.0


def register(stack: Any) -> None:
    with _lock:
        _live[id(stack)] = stack


def unregister(stack: Any) -> None:
    with _lock:
        _live.pop(id(stack), None)


def live() -> list[Any]:
    with _lock:
        return list(_live.values())


def kill_stack(stack: Any) -> None:
    """Stops a stack at once: services' process groups killed, Tansu killed, PostgreSQL stopped immediately."""
    for proc in list(getattr(stack, "procs", {}).values()):
        with contextlib.suppress(Exception):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: the service and anything it started
                except OSError:
                    proc.kill()  # not a group leader (the service under py-spy)
        with contextlib.suppress(Exception):
            proc.wait(5)
    for child in getattr(stack, "extra_procs", []):  # py-spy and other processes the harness started itself
        with contextlib.suppress(Exception):
            os.killpg(child.pid, signal.SIGKILL)
    tansu = getattr(stack, "tansu", None)
    proc = getattr(tansu, "_proc", None)
    if proc is not None:
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(5)
    pg = getattr(stack, "pg", None)
    if pg is not None and (pg.data_dir / "postmaster.pid").exists():
        with contextlib.suppress(Exception):
            subprocess.run(
                [str(pg.bin / "pg_ctl"), "-D", str(pg.data_dir), "-m", "immediate", "-w", "-t", "20", "stop"],
                capture_output=True,
                timeout=25,
                user=getattr(pg, "_user", None),
                check=False,
            )
    state = getattr(stack, "state", None)
    if state is not None:
        import shutil

        shutil.rmtree(state, ignore_errors=True)
    unregister(stack)


def kill_all() -> None:
    for stack in live():
        kill_stack(stack)


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run for the harness: SIGINT/SIGTERM cancel `main`, stacks are torn down, exit status 130."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(main)
    signals = {"count": 0}

    def stop_hard() -> None:
        kill_all()
        sys.stderr.write("benchmark interrupted: stacks stopped\n")
        sys.stderr.flush()
        os._exit(130)

    def on_signal(name: str) -> None:
        signals["count"] += 1
        if signals["count"] == 1:
            sys.stderr.write(f"\n{name}: stopping the benchmark and its stacks (again to force)\n")
            task.cancel()
            # Whatever the run's own `finally` blocks have not stopped within the grace period is killed.
            loop.call_later(GRACE_S, stop_hard)
        else:
            stop_hard()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        stop_hard()
        raise  # not reached
    finally:
        if signals["count"]:
            stop_hard()
        kill_all()  # a run that failed leaves nothing behind either
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
