"""asyncpg pool and the migration runner.

Each service owns one schema (and, in production, one role that can use only that schema). Its
migrations are the kernel's own (inbox, outbox) followed by the service's numbered .sql files.
They are applied under an advisory lock, so replicas starting together apply each file once, and
each applied file's checksum is recorded: an edited, already-applied migration stops the start
with an error instead of drifting silently.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

# A connection as handlers and repositories receive it: plain, or checked out of the pool.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
# A row a repository returns, as use cases and routes name it (they import no database driver).
Row = asyncpg.Record

KERNEL_MIGRATIONS = resources.files("incentives_kernel") / "migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationDrift(RuntimeError):
    """An applied migration's file has changed since it was applied."""


def load_migrations(service_dir: Any) -> list[Migration]:
    """Kernel migrations first (prefixed `kernel/`), then the service's, each sorted by name."""
    found: list[Migration] = []
    for prefix, folder in (("kernel/", KERNEL_MIGRATIONS), ("", service_dir)):
        files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
        found.extend(Migration(prefix + f.name, f.read_text(encoding="utf-8")) for f in files)
    return found


async def keep_session(_conn: Conn) -> None:
    """The pools' reset on release: nothing beyond asyncpg's own rollback of an open transaction.

    asyncpg's default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;` at
    every release: one more round trip for every request and every batch, on both sides (6% of
    rewards' samples under M4's 1,000 requests, and PostgreSQL's share). Nothing here leaves session
    state on a pooled connection: session advisory locks are let go through `release_session_lock`,
    which closes a connection it could not unlock, and no code runs LISTEN, a session-level SET, a
    cursor WITH HOLD or a temporary table (tests/test_conventions.py reads the source for them).
    """


async def release_session_lock(conn: Conn, key: int) -> None:
    """Let go of a session advisory lock taken on `conn`; close the connection if that did not happen.

    Pooled connections are not reset on release (`keep_session`): a lock left on one would be held by
    an idle connection for as long as it lives, and this very process could not take it again (its
    outbox relay would stand by for good)."""
    unlocked = False
    try:
        unlocked = bool(await conn.fetchval("SELECT pg_advisory_unlock($1)", key))
    finally:
        if not unlocked:
            conn.terminate()


async def _init_connection(conn: Conn) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def make_pool(
    dsn: str, schema: str, *, min_size: int, max_size: int, application_name: str, plan_cache_mode: str = "auto"
) -> asyncpg.Pool:
    """A pool that connects when awaited, in the running loop (it is bound to that loop)."""
    return asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=keep_session,
        server_settings={
            "search_path": schema,
            "application_name": application_name,
            "plan_cache_mode": plan_cache_mode,
        },
        command_timeout=30,
    )


async def ping(conn: Conn) -> None:
    """One round trip: the database answers (readiness)."""
    await conn.fetchval("SELECT 1")


async def migrate(conn: Conn, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is not yet applied, in order; return the names applied now."""
    applied_now: list[str] = []
    lock_key = int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        # In production the schema is provisioned for the service's role, which may not create schemas.
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        # Every applied file is checked before anything new is applied: drift stops the start untouched.
        for m in migrations:
            if m.name in done and done[m.name] != m.checksum:
                raise MigrationDrift(f"{schema}: migration {m.name} changed after it was applied")
        for m in migrations:
            if m.name in done:
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", m.name, m.checksum)
            applied_now.append(m.name)
            log.info("migration applied", schema=schema, migration=m.name)
    finally:
        await release_session_lock(conn, lock_key)
    return applied_now


def migrations_dir(package: str) -> Any:
    return resources.files(package) / "migrations"


def as_path(traversable: Any) -> Path:
    return Path(str(traversable))
