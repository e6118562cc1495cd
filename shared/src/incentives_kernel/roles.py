"""Who may do what in a service's schema: the owner migrates, the runtime role only reads and writes.

With a migration URL configured (`<SERVICE>_MIGRATION_DATABASE_URL`, the schema owner's login), the
migrations run as the owner, and the runtime role (`<SERVICE>_DATABASE_URL`) is then granted only the
DML it needs: no DDL, no trigger changes (it owns nothing), and on an append-only table (one guarded
by a trigger function named `*_append_only`, like points' `transfers`) no UPDATE, DELETE or TRUNCATE
at all, so a compromised or buggy process cannot rewrite the ledger even by dropping the trigger.
Without one, the runtime role owns its schema and migrates it itself (tests, simple setups).
"""

from __future__ import annotations

import hashlib

import asyncpg
import structlog

from . import db
from .db import Conn

log = structlog.get_logger(__name__)

_APPEND_ONLY_TABLES = """
SELECT DISTINCT c.relname
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE n.nspname = $1 AND NOT t.tgisinternal AND p.proname LIKE '%append\\_only'
ORDER BY 1"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def append_only_tables(conn: Conn, schema: str) -> list[str]:
    return [r["relname"] for r in await conn.fetch(_APPEND_ONLY_TABLES, schema)]


async def grant_runtime(conn: Conn, schema: str, role: str) -> list[str]:
    """Grant `role` the DML on `schema` (as its owner), minus changes to append-only tables.

    Idempotent, run at every start after the migrations (new tables get their grants then).
    Returns the append-only tables."""
    s, r = _ident(schema), _ident(role)
    lock = int.from_bytes(hashlib.sha256(f"grant:{schema}".encode()).digest()[:8], "big", signed=True)
    async with conn.transaction():
        # Replicas starting together would otherwise race on the same ACLs ("tuple concurrently updated").
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
        await conn.execute(f"GRANT USAGE ON SCHEMA {s} TO {r}")
        await conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}")
        await conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
        await conn.execute(f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {s} FROM {r}")
        # What was applied is the owner's record, not the process's to change.
        await conn.execute(f"REVOKE INSERT, UPDATE, DELETE ON {s}.schema_migrations FROM {r}")
        tables = await append_only_tables(conn, schema)
        for table in tables:
            await conn.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{_ident(table)} FROM {r}")
    return tables


async def migrate_and_grant(
    pool: asyncpg.Pool, schema: str, migrations: list[db.Migration], migration_dsn: str | None
) -> None:
    """Apply the migrations: as the owner (then grant the runtime role) if configured, else as the runtime role."""
    if not migration_dsn:
        async with pool.acquire() as conn:
            await db.migrate(conn, schema, migrations)
        return
    async with pool.acquire() as conn:
        runtime_role = str(await conn.fetchval("SELECT current_user"))
    owner = await asyncpg.connect(migration_dsn, server_settings={"application_name": f"incentives-{schema}-migrate"})
    try:
        if await owner.fetchval("SELECT current_user") == runtime_role:
            await db.migrate(owner, schema, migrations)  # one role for both: nothing to grant
            return
        await db.migrate(owner, schema, migrations)
        tables = await grant_runtime(owner, schema, runtime_role)
        log.info("runtime role granted", schema=schema, role=runtime_role, append_only=tables)
    finally:
        await owner.close()
