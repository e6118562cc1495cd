"""PostgreSQL's work per event: statements, rows, tuples, WAL and autovacuum, read before and after a drain.

Wall-clock rates on a shared machine move by 2x between identical runs; what PostgreSQL *did* per
event does not. So every run that drives the ledger path snapshots these counters around its drain
and reports the differences per event:

- `pg_stat_statements` (loaded by `enable_statements`, which restarts the bench stack's PostgreSQL
  once with the library preloaded): calls and rows of each statement, the top ones kept by text;
- `pg_stat_user_tables`: tuples inserted, updated (HOT or not), deleted per table, and how many
  times autovacuum / autoanalyze ran on it during the drain;
- `pg_stat_wal`: WAL records and bytes; `pg_stat_database`: commits.

`guard` compares a run's figures with stated bounds (the figures of a clean run, with headroom) and
names what is over, so a run whose PostgreSQL work per event doubled says so in results.json.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

# Per report.verified event in M1 at its default size (20,000 events for 10,000 known members, points
# alone), from clean runs of f986e8d on 2026-12-05 (docs/benchmarks/notes.md: statements 1.12,
# tuples 11.0, WAL 6,600 B, nothing parked, PostgreSQL 0.14-0.15 CPU-s per 1,000), with headroom. The
# runs that parked credits (the regression) measured 4.04, 13.2, 8,010 B, 0.64 and 0.40-0.45. At
# other sizes (smoke) the figures differ and the guard says so without meaning a regression.
# Since phase 2 (outbox, inbox outcomes and parked rows one statement each) a clean run of M1's
# order measured 0.11 statements per event (10,000 events, 5,000 members, notes.md): that bound is
# now 0.3, so an executemany creeping back into the batch path (1.0 per event) shows.
BOUNDS = {
    "statements_per_event": 0.3,
    "tuples_written_per_event": 12.5,
    "wal_bytes_per_event": 7800.0,
    "parked_per_event": 0.01,
}
SLOW_MS = 100  # auto_explain's threshold: a statement of a batch of 500 normally takes under 20 ms
PG_CPU_S_PER_1000 = 0.30  # CPU is the noisiest of these under contention: the widest headroom


_TABLES = """SELECT schemaname || '.' || relname AS t, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
                    autovacuum_count, autoanalyze_count, n_live_tup, n_dead_tup
             FROM pg_stat_user_tables"""
_STATEMENTS = """SELECT queryid, calls, rows, total_exec_time, shared_blks_hit + shared_blks_read AS blocks,
                        left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
                 FROM pg_stat_statements
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"""


async def enable_statements(stack: Any, admin_dsn: str) -> None:
    """Preloads pg_stat_statements in the bench stack's own PostgreSQL (restarts it once, before any service)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("ALTER SYSTEM SET shared_preload_libraries = pg_stat_statements, auto_explain")
        # A statement slower than this logs its plan (with the plan's estimated and actual rows): a
        # plan that flips as tables grow shows up in results.json (`slow_plans`) instead of as noise.
        await conn.execute(f"ALTER SYSTEM SET auto_explain.log_min_duration = '{SLOW_MS}ms'")
        await conn.execute("ALTER SYSTEM SET auto_explain.log_analyze = on")
        await conn.execute("ALTER SYSTEM SET auto_explain.log_buffers = on")
        await conn.execute("ALTER SYSTEM SET auto_explain.log_timing = off")
        await conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
        await conn.execute("ALTER SYSTEM SET track_io_timing = on")
    finally:
        await conn.close()
    await asyncio.to_thread(stack.pg.stop)
    await asyncio.to_thread(stack.pg.start)


async def create_extension(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await conn.close()


@dataclass
class Snapshot:
    tables: dict[str, dict[str, int]]
    statements: dict[int, dict[str, Any]]
    wal: dict[str, int]
    commits: int
    has_statements: bool


async def snapshot(conn: asyncpg.Connection) -> Snapshot:
    # Statistics are flushed by each backend at most once a second (stats_fetch_consistency = cache
    # by default): clear the snapshot so this reads the latest the server has.
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    tables = {r["t"]: {k: int(v) for k, v in r.items() if k != "t"} for r in await conn.fetch(_TABLES)}
    has = bool(await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"))
    statements: dict[int, dict[str, Any]] = {}
    if has:
        for r in await conn.fetch(_STATEMENTS):
            statements[int(r["queryid"] or 0)] = dict(r)
    wal = dict(await conn.fetchrow("SELECT wal_records, wal_fpi, wal_bytes::bigint AS wal_bytes FROM pg_stat_wal"))
    commits = await conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    return Snapshot(tables, statements, {k: int(v) for k, v in wal.items()}, int(commits), has)


@dataclass
class Work:
    """What PostgreSQL did between two snapshots, per event."""

    events: int
    per_event: dict[str, float] = field(default_factory=dict)
    tables: dict[str, dict[str, float]] = field(default_factory=dict)
    top_statements: list[dict[str, Any]] = field(default_factory=list)
    autovacuum: dict[str, dict[str, int]] = field(default_factory=dict)


def _own(query: str) -> bool:
    """Statements of the service, not of this meter or the harness polling the ledger."""
    q = query.lower()
    return not any(
        s in q for s in ("pg_stat", "count(*) from points.transfers", "pg_extension", "to_regclass", "show ")
    )


def work(before: Snapshot, after: Snapshot, events: int, schemas: tuple[str, ...] = ("points",)) -> Work:
    w = Work(events)
    if not events:
        return w
    ins = upd = hot = dele = 0
    for name, a in after.tables.items():
        if not name.startswith(tuple(f"{s}." for s in schemas)):
            continue
        b = before.tables.get(name, dict.fromkeys(a, 0))
        d = {k: a[k] - b.get(k, 0) for k in ("n_tup_ins", "n_tup_upd", "n_tup_hot_upd", "n_tup_del")}
        if any(d.values()):
            w.tables[name] = {
                "inserted": round(d["n_tup_ins"] / events, 3),
                "updated": round(d["n_tup_upd"] / events, 3),
                "hot_updated": round(d["n_tup_hot_upd"] / events, 3),
                "deleted": round(d["n_tup_del"] / events, 3),
            }
        ins, upd, hot, dele = (
            ins + d["n_tup_ins"],
            upd + d["n_tup_upd"],
            hot + d["n_tup_hot_upd"],
            dele + d["n_tup_del"],
        )
        runs = {k: a[k] - b.get(k, 0) for k in ("autovacuum_count", "autoanalyze_count")}
        if any(runs.values()):
            w.autovacuum[name] = runs
    calls = rows = 0
    stmts: list[dict[str, Any]] = []
    for qid, a in after.statements.items():
        if not _own(a["query"]):
            continue
        b = before.statements.get(qid, {"calls": 0, "rows": 0, "total_exec_time": 0.0, "blocks": 0})
        dc, dr = a["calls"] - b["calls"], a["rows"] - b["rows"]
        if dc <= 0:
            continue
        calls, rows = calls + dc, rows + dr
        stmts.append(
            {
                "query": a["query"],
                "calls_per_event": round(dc / events, 4),
                "rows_per_event": round(dr / events, 3),
                "ms_per_1000_events": round((a["total_exec_time"] - b["total_exec_time"]) * 1000 / events, 2),
                "blocks_per_call": round((a["blocks"] - b["blocks"]) / dc, 1),
            }
        )
    stmts.sort(key=lambda s: -s["ms_per_1000_events"])
    w.top_statements = stmts[:12]
    parked = after.tables.get("points.parked_events", {}).get("n_tup_ins", 0) - before.tables.get(
        "points.parked_events", {}
    ).get("n_tup_ins", 0)
    w.per_event = {
        "tuples_inserted_per_event": round(ins / events, 3),
        "tuples_updated_per_event": round(upd / events, 3),
        "tuples_hot_updated_per_event": round(hot / events, 3),
        "tuples_deleted_per_event": round(dele / events, 3),
        "tuples_written_per_event": round((ins + upd + dele) / events, 3),
        "wal_records_per_event": round((after.wal["wal_records"] - before.wal["wal_records"]) / events, 2),
        "wal_fpi_per_event": round((after.wal["wal_fpi"] - before.wal["wal_fpi"]) / events, 3),
        "wal_bytes_per_event": round((after.wal["wal_bytes"] - before.wal["wal_bytes"]) / events, 1),
        "commits_per_event": round((after.commits - before.commits) / events, 4),
        "parked_per_event": round(parked / events, 4),
    }
    if after.has_statements:
        w.per_event["statements_per_event"] = round(calls / events, 4)
        w.per_event["statement_rows_per_event"] = round(rows / events, 3)
        w.per_event["exec_ms_per_1000_events"] = round(sum(s["ms_per_1000_events"] for s in stmts), 1)
    return w


def as_dict(w: Work) -> dict[str, Any]:
    return {
        **w.per_event,
        "tables": w.tables,
        "autovacuum_during_drain": w.autovacuum,
        "top_statements": w.top_statements,
    }


def guard(per_event: dict[str, Any], cpu_pg_s_per_1000: float | None, bounds: dict[str, float] = BOUNDS) -> list[str]:
    """What is over its bound in a run's work per event (empty: within the clean path's figures)."""
    over = [
        f"{k} {per_event[k]} > {bound}"
        for k, bound in bounds.items()
        if isinstance(per_event.get(k), int | float) and per_event[k] > bound
    ]
    if cpu_pg_s_per_1000 is not None and cpu_pg_s_per_1000 > PG_CPU_S_PER_1000:
        over.append(f"postgresql_cpu_s_per_1000 {cpu_pg_s_per_1000} > {PG_CPU_S_PER_1000}")
    return over


def slow_plans(log: Path, since: int, keep: int = 3) -> dict[str, Any]:
    """auto_explain's entries in the PostgreSQL log after byte `since`: how many, and the slowest plans."""
    try:
        with log.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return {"count": 0, "slowest": []}
    entries: list[tuple[float, str]] = []
    for chunk in text.split("LOG:  duration: ")[1:]:
        head, _, rest = chunk.partition(" ms")
        try:
            ms = float(head)
        except ValueError:
            continue
        if "plan:" not in rest[:40]:
            continue
        lines = [ln for ln in rest.splitlines()[1:40] if ln.startswith(("\t", "  ", "Query Text", "\tQuery"))]
        # A batch's bound arrays (`Query Parameters: $1 = '{...500 ids...}'`) would fill the kept text
        # before the plan itself: cut each line, not the entry.
        entries.append((ms, "\n".join(x.strip()[:240] for x in lines)[:3000]))
    entries.sort(key=lambda e: -e[0])
    return {"count": len(entries), "slowest": [{"ms": ms, "plan": plan} for ms, plan in entries[:keep]]}


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0
