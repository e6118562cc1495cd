"""Infrastructure for integration and end-to-end tests: a real PostgreSQL and Kafka-protocol broker.

Order of preference: DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS when set (a superuser URL: the tests
create their own database and roles); testcontainers when a Docker engine answers; otherwise the
embedded PostgreSQL and Tansu that `make run` uses. No test is skipped for lack of Docker.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from incentives_ops.embedded import EmbeddedPostgres, EmbeddedTansu, free_port
from incentives_ops.provision import drop_database
from incentives_ops.stack import Stack, StackOptions
from incentives_ops.topics_admin import create_topics

PARK_GRACE_S = 6


@dataclass(frozen=True)
class Infra:
    admin_dsn: str
    bootstrap: str
    kind: str


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    admin, bootstrap = os.environ.get("DATABASE_URL"), os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    stops = []
    tmp = Path(tempfile.mkdtemp(prefix="incentives-test-"))
    kind = []
    if not admin and _docker_available():
        from testcontainers.postgres import PostgresContainer

        pg_container = PostgresContainer("postgres:18", driver=None).start()
        stops.append(pg_container.stop)
        admin = pg_container.get_connection_url()
        kind.append("pg:testcontainers")
    if not bootstrap and _docker_available():
        from testcontainers.kafka import KafkaContainer

        kafka_container = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft().start()
        stops.append(kafka_container.stop)
        bootstrap = kafka_container.get_bootstrap_server()
        kind.append("kafka:testcontainers")
    if not admin:
        pg = EmbeddedPostgres(tmp / "pgdata", free_port())
        admin = pg.start()
        stops.append(pg.remove)
        kind.append("pg:embedded")
    if not bootstrap:
        tansu = EmbeddedTansu(free_port(), tmp / "tansu.log")
        bootstrap = tansu.start()
        stops.append(tansu.stop)
        kind.append("kafka:embedded-tansu")
    asyncio.run(create_topics(bootstrap))
    try:
        yield Infra(admin, bootstrap, ",".join(kind) or "env")
    finally:
        for stop in reversed(stops):
            stop()
        keep = os.environ.get("INCENTIVES_TEST_LOGS")
        if keep and (tmp / "tansu.log").exists():
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / "tansu.log", Path(keep) / "tansu.log")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    """The four services as processes, as `make run` starts them, on a database of their own."""
    state = Path(tempfile.mkdtemp(prefix="incentives-stack-"))
    s = Stack(
        StackOptions(
            state_dir=state,
            database_url=infra.admin_dsn,
            bootstrap=infra.bootstrap,
            database=f"incentives_e2e_{uuid.uuid4().hex[:8]}",
            ports={name: free_port() for name in ("reports", "points", "rewards", "notify")},
            # A short grace so the test of an event that waits in vain sees it dead-lettered.
            extra_env={
                "INCENTIVES_LOG_LEVEL": "INFO",
                **{f"{svc}_PARK_GRACE_S": str(PARK_GRACE_S) for svc in ("REPORTS", "POINTS", "REWARDS", "NOTIFY")},
                **{f"{svc}_PARK_SWEEP_INTERVAL_S": "1" for svc in ("REPORTS", "POINTS", "REWARDS", "NOTIFY")},
                "POINTS_HOLD_SWEEP_INTERVAL_S": "1",
                "REWARDS_SAGA_SWEEP_INTERVAL_S": "1",
                # Applications within the same hour tie on time, so the tests see the lottery decide.
                "REWARDS_APPLICATION_TIME_RESOLUTION_S": "3600",
            },
        )
    )
    await s.start()
    try:
        await s.wait_ready(timeout=120)
        yield s
    finally:
        await asyncio.to_thread(s.stop)
        await drop_database(infra.admin_dsn, s.opt.database)
        logs = state / "logs"
        keep = os.environ.get("INCENTIVES_TEST_LOGS")
        if keep:
            shutil.copytree(logs, keep, dirs_exist_ok=True)
        shutil.rmtree(state, ignore_errors=True)
