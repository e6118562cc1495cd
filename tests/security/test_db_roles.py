"""On a real PostgreSQL: one role per service with only its own schema, and a ledger the points
process cannot rewrite (the owner migrates; the runtime role has DML only, none on transfers)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from incentives_kernel.db import load_migrations, make_pool, migrations_dir
from incentives_kernel.roles import migrate_and_grant
from incentives_ops.provision import (
    _with,
    drop_database,
    provision,
    provision_runtime_roles,
    quote_ident,
    runtime_role,
)

from tests.conftest import Infra


async def test_the_points_runtime_role_cannot_change_transfers_nor_read_another_schema(infra: Infra) -> None:
    suffix = uuid.uuid4().hex[:8]  # role names are cluster-wide: unique, so as not to touch another stack's
    database = f"sec_roles_{suffix}"
    points, reports = f"points_{suffix}", f"reports_{suffix}"
    owners_pw = {points: secrets.token_urlsafe(16), reports: secrets.token_urlsafe(16)}
    try:
        owners = await provision(infra.admin_dsn, database, owners_pw)
        runtime = await provision_runtime_roles(
            infra.admin_dsn, database, {s: secrets.token_urlsafe(16) for s in owners_pw}
        )
        # As a service starts: the pool is the runtime role's, the migrations run as the owner.
        for service, package in ((points, "points"), (reports, "reports")):
            pool = await make_pool(runtime[service], service, min_size=1, max_size=1, application_name="t")
            try:
                await migrate_and_grant(pool, service, load_migrations(migrations_dir(package)), owners[service])
                # A second start (a replica, a restart) re-applies nothing and grants the same.
                await migrate_and_grant(pool, service, load_migrations(migrations_dir(package)), owners[service])
            finally:
                await pool.close()

        app = await asyncpg.connect(runtime[points], server_settings={"search_path": points})
        try:
            assert await app.fetchval("SELECT current_user") == runtime_role(points)
            now = datetime.now(UTC)
            await app.execute(
                """INSERT INTO transfers (transfer_id, debit_account, credit_account, amount, kind, member_id,
                       rule_version, reason, source, source_event_id, occurred_at)
                   VALUES ('t1', 'issuance:beiqu', 'member:m1', 8, 'report', 'm1', 'v1', 'verified', 'it', 't1', $1)""",
                now,
            )  # appending is what the process does
            # Refused by privilege, not by the trigger: the trigger is the second line, not the only one.
            for statement in (
                "UPDATE transfers SET amount = 1000 WHERE transfer_id = 't1'",
                "DELETE FROM transfers WHERE transfer_id = 't1'",
                "TRUNCATE transfers",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for table transfers"):
                    await app.execute(statement)
            for statement in (
                "DROP TRIGGER transfers_no_update ON transfers",
                "ALTER TABLE transfers DISABLE TRIGGER transfers_no_update",
                "DROP TABLE transfers",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner"):
                    await app.execute(statement)
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema"):
                await app.execute("CREATE TABLE sneaky (id int)")
            with pytest.raises(
                asyncpg.InsufficientPrivilegeError, match="permission denied for table schema_migrations"
            ):
                await app.execute("DELETE FROM schema_migrations")
            # What the process needs still works: DML on its other tables.
            await app.execute("INSERT INTO outbox (event_id, topic, value) VALUES ('e1', 't', 'v')")
            await app.execute("DELETE FROM outbox WHERE event_id = 'e1'")
            assert await app.fetchval("SELECT amount FROM transfers WHERE transfer_id = 't1'") == 8
            # Another service's schema: neither its runtime nor its owner role is readable.
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema"):
                await app.fetch(f"SELECT * FROM {quote_ident(reports)}.inbox")
        finally:
            await app.close()
        other = await asyncpg.connect(runtime[reports])
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema"):
                await other.fetch(f"SELECT * FROM {quote_ident(points)}.transfers")
        finally:
            await other.close()
    finally:
        await drop_database(infra.admin_dsn, database)
        admin = await asyncpg.connect(infra.admin_dsn)
        try:
            for role in [*owners_pw, *(runtime_role(s) for s in owners_pw)]:
                await admin.execute(f"DROP ROLE IF EXISTS {quote_ident(role)}")
        finally:
            await admin.close()


async def test_the_running_stack_uses_a_runtime_role_that_owns_nothing(stack) -> None:  # type: ignore[no-untyped-def]
    """The embedded stack (what `make run` and the e2e tests start) runs each service as `<svc>_app`."""
    admin = await asyncpg.connect(_with(stack.info.admin_dsn, database=stack.opt.database))
    try:
        rows = await admin.fetch(
            """SELECT usename, count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND application_name LIKE 'incentives-%' GROUP BY usename"""
        )
        users = {r["usename"] for r in rows}
        assert {"points_app", "reports_app", "rewards_app", "notify_app"} <= users, users
        assert not users & {"points", "reports", "rewards", "notify"}, "the owners only migrate, then disconnect"
        assert not await admin.fetchval(
            "SELECT has_table_privilege('points_app', 'points.transfers', 'UPDATE, DELETE, TRUNCATE')"
        )
        assert await admin.fetchval("SELECT has_table_privilege('points_app', 'points.transfers', 'INSERT, SELECT')")
        owned = await admin.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname LIKE '%\\_app'"
        )
        assert owned == 0
    finally:
        await admin.close()
