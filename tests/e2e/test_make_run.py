"""`incentives run` (what `make run` calls): riders earn points within 60 s, and Ctrl-C leaves nothing running."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest
from incentives_ops.embedded import free_port

pytestmark = pytest.mark.e2e


def _descendants_and_servers(root_pid: int, state_dir: Path) -> list[psutil.Process]:
    """Processes started by the run: its children, and servers whose command line names its state dir."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(state_dir) in cmdline or proc.pid == root_pid:
            found.append(proc)
    with contextlib.suppress(psutil.NoSuchProcess):
        found += psutil.Process(root_pid).children(recursive=True)
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_run_shows_riders_earning_points_and_ctrl_c_stops_everything() -> None:
    state = Path(tempfile.mkdtemp(prefix="incentives-run-"))
    ports = {name: free_port() for name in ("reports", "points", "rewards", "notify")}
    console_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env.update({f"{n.upper()}_HTTP_PORT": str(p) for n, p in ports.items()})
    env.update(
        {
            "INCENTIVES_PG_PORT": str(free_port()),
            "INCENTIVES_KAFKA_PORT": str(free_port()),
            "DEMO": "1",
            "CONSOLE_HTTP_PORT": str(console_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = (state / "run.out").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "incentives_ops.cli", "run", "--state-dir", str(state)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    try:
        first_points = None
        while time.monotonic() - started < 120:
            text = (state / "run.out").read_text(errors="replace")
            match = re.search(r"first points after ([0-9.]+)s", text)
            if match:
                first_points = float(match.group(1))
                break
            assert proc.poll() is None, f"incentives run exited early:\n{text[-3000:]}"
            time.sleep(0.5)
        assert first_points is not None, "no points within 120 s"
        assert first_points <= 60, f"first points after {first_points} s"
        for name, port in ports.items():
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200, name
        assert f"console  http://127.0.0.1:{console_port}" in (state / "run.out").read_text()
        assert httpx.get(f"http://127.0.0.1:{console_port}/login", timeout=5).status_code == 200
        dotenv = (state / "env").read_text()
        assert (
            "INCENTIVES_OPERATOR_TOKEN=dev-operator-" in dotenv
            and f"POINTS_URL=http://127.0.0.1:{ports['points']}" in dotenv
        )
        assert "INCENTIVES_REPLAY_KEY=" in dotenv  # what `incentives dlq replay` needs
        assert "intake          OPEN (development)" in (state / "run.out").read_text(), "it says it is open"
        assert (state / "env").stat().st_mode & 0o077 == 0  # tokens are not world-readable
        running = _descendants_and_servers(proc.pid, state)
        assert len(running) >= 7, [p.info for p in running]  # run, 4 services, broker, postgres (+ workers)
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, (state / "run.out").read_text()[-3000:]
    assert "stopped; nothing left running." in (state / "run.out").read_text()
    time.sleep(1)
    left = _descendants_and_servers(proc.pid, state)
    assert left == [], [(p.pid, p.cmdline()) for p in left]
    for port in [*ports.values(), console_port]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    shutil.rmtree(state, ignore_errors=True)  # kept when the test fails, for its logs
