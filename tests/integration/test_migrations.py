"""The migration runner against a real PostgreSQL: order, checksums, drift, atomicity, concurrency, roles.

The module works in a database of its own; each test in a schema of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from incentives_kernel.db import (
    KERNEL_MIGRATIONS,
    Migration,
    MigrationDrift,
    load_migrations,
    migrate,
    migrations_dir,
)
from incentives_ops.provision import drop_database, provision, quote_ident

from tests.conftest import Infra
from tests.support import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

KERNEL_NAMES = sorted(f"kernel/{f.name}" for f in KERNEL_MIGRATIONS.iterdir() if f.name.endswith(".sql"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dsn(infra: Infra) -> AsyncIterator[str]:
    async with scratch_database(infra.admin_dsn, "it_migrations") as url:
        yield url


@pytest.fixture
def schema() -> str:
    return f"m_{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture(loop_scope="session")
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(dsn)
    try:
        yield c
    finally:
        await c.close()


def service_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "migrations"
    d.mkdir(exist_ok=True)
    for name, sql in files.items():
        (d / name).write_text(sql, encoding="utf-8")
    return d


async def table_exists(conn: asyncpg.Connection, schema: str, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{quote_ident(schema)}.{table}"))


async def recorded(conn: asyncpg.Connection, schema: str) -> dict[str, str]:
    rows = await conn.fetch(f"SELECT name, checksum FROM {quote_ident(schema)}.schema_migrations")
    return {r["name"]: r["checksum"] for r in rows}


WIDGETS = "CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL);\n"
MORE = "ALTER TABLE widgets ADD COLUMN colour text;\nCREATE INDEX widgets_colour ON widgets (colour);\n"


async def test_kernel_then_service_migrations_are_applied_once_with_their_checksums(
    dsn: str, conn: asyncpg.Connection, schema: str, tmp_path: Path
) -> None:
    svc = service_dir(
        tmp_path,
        {"0002_more.sql": MORE, "0001_widgets.sql": WIDGETS, "README.md": "not a migration", "0003_x.sql.bak": "junk"},
    )
    migrations = load_migrations(svc)
    names = [m.name for m in migrations]
    assert "kernel/0001_inbox_outbox.sql" in KERNEL_NAMES
    assert names == [*KERNEL_NAMES, "0001_widgets.sql", "0002_more.sql"]

    assert await migrate(conn, schema, migrations) == names

    for table in ("inbox", "outbox", "parked_events", "members", "widgets", "schema_migrations"):
        assert await table_exists(conn, schema, table), table
    assert not await table_exists(conn, "public", "widgets")
    columns = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'widgets'", schema
    )
    assert {r["column_name"] for r in columns} == {"id", "name", "colour"}

    expected = {"0001_widgets.sql": WIDGETS, "0002_more.sql": MORE}
    expected.update({f"kernel/{f.name}": f.read_text(encoding="utf-8") for f in KERNEL_MIGRATIONS.iterdir()})
    checksums = {name: hashlib.sha256(sql.encode()).hexdigest() for name, sql in expected.items() if name in names}
    assert await recorded(conn, schema) == checksums
    first_applied = await conn.fetch(f"SELECT name, applied_at FROM {quote_ident(schema)}.schema_migrations")

    # Again, from another connection (a restart): nothing new, nothing re-run.
    other = await asyncpg.connect(dsn)
    try:
        assert await migrate(other, schema, load_migrations(svc)) == []
        again = await other.fetch(f"SELECT name, applied_at FROM {quote_ident(schema)}.schema_migrations")
        assert sorted(map(tuple, again)) == sorted(map(tuple, first_applied))

        # A new file is applied alone.
        (svc / "0003_gadgets.sql").write_text("CREATE TABLE gadgets (id int);", encoding="utf-8")
        assert await migrate(other, schema, load_migrations(svc)) == ["0003_gadgets.sql"]
        assert await table_exists(other, schema, "gadgets")
    finally:
        await other.close()


async def test_an_edited_applied_migration_raises_drift_and_applies_nothing(
    conn: asyncpg.Connection, schema: str, tmp_path: Path
) -> None:
    svc = service_dir(tmp_path, {"0001_widgets.sql": WIDGETS})
    await migrate(conn, schema, load_migrations(svc))
    before = await recorded(conn, schema)

    (svc / "0001_widgets.sql").write_text(WIDGETS + "-- a harmless-looking edit\n", encoding="utf-8")
    (svc / "0002_gadgets.sql").write_text("CREATE TABLE gadgets (id int);", encoding="utf-8")
    with pytest.raises(MigrationDrift, match=re.escape("0001_widgets.sql")):
        await migrate(conn, schema, load_migrations(svc))
    assert not await table_exists(conn, schema, "gadgets")
    assert await recorded(conn, schema) == before

    # An edited kernel migration is drift too.
    edited = [
        Migration(m.name, m.sql + "\n-- edited") if m.name == KERNEL_NAMES[-1] else m for m in load_migrations(svc)
    ]
    with pytest.raises(MigrationDrift, match=re.escape(KERNEL_NAMES[-1])):
        await migrate(conn, schema, edited)
    assert not await table_exists(conn, schema, "gadgets")
    assert await recorded(conn, schema) == before

    # The lock was released: once the file is restored, the new migration applies.
    (svc / "0001_widgets.sql").write_text(WIDGETS, encoding="utf-8")
    assert await asyncio.wait_for(migrate(conn, schema, load_migrations(svc)), timeout=10) == ["0002_gadgets.sql"]


async def test_drift_is_detected_before_any_new_migration_is_applied(
    conn: asyncpg.Connection, schema: str, tmp_path: Path
) -> None:
    svc = service_dir(tmp_path, {"0001_widgets.sql": WIDGETS})
    await migrate(conn, schema, load_migrations(svc))
    (svc / "0001_widgets.sql").write_text(WIDGETS + "-- edited\n", encoding="utf-8")
    # A kernel upgrade brings a new kernel migration, which sorts before every service migration.
    upgraded = load_migrations(svc)
    upgraded.insert(len(KERNEL_NAMES), Migration("kernel/9999_upgrade.sql", "CREATE TABLE kernel_upgrade (x int);"))
    with pytest.raises(MigrationDrift):
        await migrate(conn, schema, upgraded)
    assert not await table_exists(conn, schema, "kernel_upgrade"), "applied before the drift stopped the start"


async def test_a_failing_migration_rolls_back_entirely_and_earlier_ones_stay(
    dsn: str, conn: asyncpg.Connection, schema: str, tmp_path: Path
) -> None:
    bad = (
        "CREATE TABLE half_done (id int);\n"
        "INSERT INTO half_done VALUES (1);\n"
        "ALTER TABLE widgets ADD COLUMN colour text;\n"
        "CREATE INDEX half_done_x ON no_such_table (x);\n"
    )
    svc = service_dir(
        tmp_path,
        {"0001_widgets.sql": WIDGETS, "0002_bad.sql": bad, "0003_after.sql": "CREATE TABLE after_bad (id int);"},
    )
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(conn, schema, load_migrations(svc))

    done = await recorded(conn, schema)
    assert set(done) == {*KERNEL_NAMES, "0001_widgets.sql"}
    assert await table_exists(conn, schema, "widgets")
    assert not await table_exists(conn, schema, "half_done")
    assert not await table_exists(conn, schema, "after_bad")
    colour = await conn.fetchval(
        """SELECT count(*) FROM information_schema.columns
           WHERE table_schema = $1 AND table_name = 'widgets' AND column_name = 'colour'""",
        schema,
    )
    assert colour == 0
    assert await conn.fetchval("SELECT 1") == 1  # the connection is usable, no transaction left open

    # Fixed, from another connection (so the advisory lock must have been released): the rest applies.
    (svc / "0002_bad.sql").write_text(bad.replace("no_such_table (x)", "half_done (id)"), encoding="utf-8")
    other = await asyncpg.connect(dsn)
    try:
        applied = await asyncio.wait_for(migrate(other, schema, load_migrations(svc)), timeout=10)
    finally:
        await other.close()
    assert applied == ["0002_bad.sql", "0003_after.sql"]
    assert await conn.fetchval(f"SELECT count(*) FROM {quote_ident(schema)}.half_done") == 1


async def test_a_migration_and_its_record_commit_together(
    conn: asyncpg.Connection, schema: str, tmp_path: Path
) -> None:
    """A script that runs but cannot be recorded leaves no trace (one transaction, not two)."""
    refuse_own_record = (
        "CREATE TABLE unrecorded (id int);\n"
        "ALTER TABLE schema_migrations ADD CONSTRAINT refuse CHECK (name <> '0001_unrecorded.sql');\n"
    )
    svc = service_dir(tmp_path, {"0001_unrecorded.sql": refuse_own_record})
    with pytest.raises(asyncpg.CheckViolationError):
        await migrate(conn, schema, load_migrations(svc))
    assert not await table_exists(conn, schema, "unrecorded")
    assert set(await recorded(conn, schema)) == set(KERNEL_NAMES)


async def test_concurrent_migrations_apply_each_file_once(dsn: str, schema: str, tmp_path: Path) -> None:
    svc = service_dir(
        tmp_path,
        {
            "0001_runs.sql": "CREATE TABLE runs (n int NOT NULL);",
            "0002_slow.sql": "INSERT INTO runs VALUES (2);\nSELECT pg_sleep(0.3);",
            "0003_more.sql": "INSERT INTO runs VALUES (3);",
        },
    )
    migrations = load_migrations(svc)
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(migrate(c, schema, migrations) for c in conns)), timeout=30)
        applied = [name for result in results for name in result]
        assert sorted(applied) == sorted(m.name for m in migrations), results
        assert any(result == [m.name for m in migrations] for result in results), results
        assert await conns[0].fetchval(f"SELECT array_agg(n ORDER BY n) FROM {quote_ident(schema)}.runs") == [2, 3]
        assert len(await recorded(conns[0], schema)) == len(migrations)
    finally:
        for c in conns:
            await c.close()


async def test_a_service_role_migrates_its_own_schema_and_cannot_read_anothers(infra: Infra) -> None:
    # Role names are cluster-wide: unique ones, so as not to touch the roles another test's stack uses.
    suffix = uuid.uuid4().hex[:8]
    database = f"it_provision_{suffix}"
    points, reports = f"points_{suffix}", f"reports_{suffix}"
    passwords = {points: secrets.token_urlsafe(16), reports: secrets.token_urlsafe(16)}
    try:
        dsns = await provision(infra.admin_dsn, database, passwords)
        assert await provision(infra.admin_dsn, database, passwords) == dsns  # idempotent
        as_points = await asyncpg.connect(dsns[points])
        as_reports = await asyncpg.connect(dsns[reports])
        try:
            assert await as_points.fetchval("SELECT current_user") == points
            assert not await as_points.fetchval("SELECT has_database_privilege(current_database(), 'CREATE')")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_points.execute("CREATE SCHEMA not_allowed")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_points.execute("CREATE TABLE public.not_allowed (id int)")

            points_migrations = load_migrations(migrations_dir("points"))
            applied = await migrate(as_points, points, points_migrations)
            assert applied == [m.name for m in points_migrations]
            assert "0001_ledger.sql" in applied
            assert await migrate(as_points, points, load_migrations(migrations_dir("points"))) == []
            await migrate(as_reports, reports, load_migrations(migrations_dir("reports")))
            owner = await as_points.fetchval(
                "SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'transfers'", points
            )
            assert owner == points

            await as_points.fetch(f"SELECT * FROM {quote_ident(points)}.inbox")  # its own: fine
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_points.fetch(f"SELECT * FROM {quote_ident(reports)}.inbox")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_points.execute(
                    f"INSERT INTO {quote_ident(reports)}.outbox (event_id, topic, value) VALUES ('e', 't', 'v')"
                )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_reports.fetch(f"SELECT * FROM {quote_ident(points)}.transfers")
        finally:
            await as_points.close()
            await as_reports.close()
    finally:
        await drop_database(infra.admin_dsn, database)
        admin = await asyncpg.connect(infra.admin_dsn)
        try:
            for role in passwords:
                await admin.execute(f"DROP ROLE IF EXISTS {quote_ident(role)}")
        finally:
            await admin.close()


async def test_points_transfers_are_append_only(conn: asyncpg.Connection, schema: str) -> None:
    applied = await migrate(conn, schema, load_migrations(migrations_dir("points")))
    assert "0001_ledger.sql" in applied
    insert = f"""INSERT INTO {quote_ident(schema)}.transfers
        (transfer_id, debit_account, credit_account, amount, kind, member_id, rule_version, reason, source,
         source_event_id, occurred_at)
        VALUES ($1, 'issuance:beiqu', 'member:m1', 8, 'report', 'm1', 'v1', 'verified', 'it', $1, $2)"""
    now = datetime.now(UTC)
    await conn.execute(insert, "t1", now)
    await conn.execute(insert, "t2", now)  # appending is what the table is for

    table = f"{quote_ident(schema)}.transfers"
    for statement in (
        f"UPDATE {table} SET amount = 1000 WHERE transfer_id = 't1'",
        f"UPDATE {table} SET amount = amount WHERE false",  # statement-level: refused even for no rows
        f"DELETE FROM {table} WHERE transfer_id = 't1'",
        f"TRUNCATE {table} CASCADE",  # CASCADE: past the foreign keys, to the trigger itself
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
    rows = await conn.fetch(f"SELECT transfer_id, amount FROM {table} ORDER BY transfer_id")
    assert [(r["transfer_id"], r["amount"]) for r in rows] == [("t1", 8), ("t2", 8)]
