"""`incentives db provision` (compose's db-init job) creates, per service, the schema owner and the
runtime role the service runs as, and can be re-run (it also resets the passwords)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from incentives_ops.cli import main
from incentives_ops.provision import SERVICES, _with, drop_database

from tests.conftest import Infra

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_db_provision_creates_owner_and_runtime_roles(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    database = f"it_provision_{uuid.uuid4().hex[:8]}"
    for service in SERVICES:
        monkeypatch.setenv(f"{service.upper()}_DB_PASSWORD", f"owner-{service}-pw")
        monkeypatch.setenv(f"{service.upper()}_APP_DB_PASSWORD", f"app-{service}-pw")
    argv = ["db", "provision", "--admin-url", infra.admin_dsn, "--database", database]
    try:
        for _ in range(2):  # idempotent
            assert await asyncio.to_thread(main, argv) == 0
        for service in SERVICES:
            app = await asyncpg.connect(
                _with(infra.admin_dsn, user=f"{service}_app", password=f"app-{service}-pw", database=database)
            )
            try:
                assert await app.fetchval("SELECT has_schema_privilege($1, 'USAGE')", service)
                assert not await app.fetchval("SELECT has_schema_privilege($1, 'CREATE')", service)
                others = [s for s in SERVICES if s != service]
                assert not any([await app.fetchval("SELECT has_schema_privilege($1, 'USAGE')", o) for o in others])
            finally:
                await app.close()
            owner = await asyncpg.connect(
                _with(infra.admin_dsn, user=service, password=f"owner-{service}-pw", database=database)
            )
            try:
                assert (
                    await owner.fetchval("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", service)
                    == service
                )
            finally:
                await owner.close()
    finally:
        await drop_database(infra.admin_dsn, database)
