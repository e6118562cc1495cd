"""M1, MIX and scale-out: events/s from Kafka to committed ledger transfers, beside same-run anchors.

One run: an embedded stack of its own with pg_stat_statements loaded; M members registered and
projected by the points service (which is then stopped, so the members are known: the credit path
is measured, not the race between the members topic and the reports topic: see `order="cold"` and
docs/benchmarks/notes.md); the workload's records pre-filled (by aiokafka, or by kafkajs:
`producer="kafkajs"`); then `processes` points processes started on the same consumer group and
the drain measured from the first committed transfer to the last. Around the drain: the CPU of each
process and PostgreSQL's work per event (`bench.pgwork`: statements, tuples, WAL). After it, with
the services stopped, the same-run anchors:

- a raw aiokafka drain of the same records (no decode);
- L1's COPY: the rows the drain wrote, per table, copied back into tables created `LIKE ... INCLUDING
  ALL` (the same columns, defaults, constraints and indexes as the real ones) in one transaction;
  its rows/s and the tuples per event written by the real path give the ceiling
  L1 = 1 / (1/raw_drain + tuples_per_event / copy_rows_per_s);
- a naive consumer: plain aiokafka, one transaction with one transfer-shaped insert per event.

A MIX run also checks the ledger against the workload's expected one and fails loudly if it differs.

    uv run python -m bench.points_ledger [N] [M] [--mix] [--cold] [--kafkajs] [--processes=2]
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from incentives_kernel import topics
from incentives_ops.provision import _with
from incentives_ops.stack import Stack

from bench import external, pgwork, workload
from bench.anchors import (
    bench_stack,
    naive_consumer_seconds,
    produce_records,
    raw_drain_seconds,
    start_extra_service,
    stop_stack,
)
from bench.measure import CpuMeter, machine, note, peak_rss_mb, stack_pids
from bench.waits import BenchTimeout, describe, until_count, until_true

RESULTS = Path(__file__).parent / "results" / "points_ledger.json"
L1_SCHEMA = "bench_l1"


def verified(member: str, report: str | None = None) -> dict[str, object]:
    """One report.verified (kept for the other benchmarks that publish a few)."""
    import uuid

    return workload.verified(member, report or f"br-{uuid.uuid4().hex[:12]}")


async def register(bootstrap: str, members: list[str], districts: int) -> None:
    await produce_records(bootstrap, workload.registrations(members, districts))


async def wait_count(conn: asyncpg.Connection, sql: str, n: int, label: str, *args: object) -> tuple[int, float, float]:
    """Polls `sql` (a count) until it reaches n, with the harness's deadlines: (first, when seen, when n was)."""

    async def count() -> int:
        return int(await conn.fetchval(sql, *args))

    return await until_count(count, n, label)


async def l1_copy(conn: asyncpg.Connection, tables: dict[str, dict[str, float]], events: int) -> dict[str, Any]:
    """COPY the rows the drain inserted, table by table, into LIKE ... INCLUDING ALL copies (same indexes).

    Returns rows/s of the COPY (all tables, one transaction, timed from the first COPY to the commit)
    and which tables and indexes it wrote.
    """
    await conn.execute(f"DROP SCHEMA IF EXISTS {L1_SCHEMA} CASCADE; CREATE SCHEMA {L1_SCHEMA}")
    buffers: list[tuple[str, int, bytes]] = []
    written: dict[str, Any] = {}
    for name, per in tables.items():
        rows = round(per["inserted"] * events)
        if rows <= 0:
            continue
        schema, table = name.split(".", 1)
        await conn.execute(f"CREATE TABLE {L1_SCHEMA}.{table} (LIKE {schema}.{table} INCLUDING ALL)")
        buf = io.BytesIO()
        await conn.copy_from_query(f"SELECT * FROM {schema}.{table} LIMIT {rows}", output=buf, format="binary")
        got = await conn.fetchval(f"SELECT count(*) FROM (SELECT 1 FROM {schema}.{table} LIMIT {rows}) s")
        buffers.append((table, int(got), buf.getvalue()))
        indexes = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY 1", L1_SCHEMA, table
        )
        written[name] = {"rows": int(got), "indexes": len(indexes)}
    started = time.perf_counter()
    async with conn.transaction():
        for table, _, data in buffers:
            await conn.copy_to_table(table, schema_name=L1_SCHEMA, source=io.BytesIO(data), format="binary")
    took = time.perf_counter() - started
    total = sum(rows for _, rows, _ in buffers)
    await conn.execute(f"DROP SCHEMA {L1_SCHEMA} CASCADE")
    return {"copy_rows_per_s": round(total / took) if took else None, "rows": total, "tables": written}


def l1(raw_drain: float | None, tuples_per_event: float | None, copy_rows_per_s: float | None) -> float | None:
    """L1 = 1 / (1/raw_drain + tuples_per_event / copy_rows_per_s) events/s."""
    if not raw_drain or not copy_rows_per_s or tuples_per_event is None:
        return None
    return round(1 / (1 / raw_drain + tuples_per_event / copy_rows_per_s))


def _event_id(value: bytes) -> str | None:
    """The CloudEvent id of a record, None for MIX's poison that is not JSON."""
    try:
        return str(json.loads(value)["id"])
    except (ValueError, KeyError, TypeError):
        return None


async def _missing(conn: asyncpg.Connection, ids: list[str]) -> str:
    """Which expected source events have no transfer, and where they are (parked, dead-lettered)."""
    absent = await conn.fetch(
        """SELECT s FROM unnest($1::text[]) AS s
           EXCEPT SELECT source_event_id FROM points.transfers
           EXCEPT SELECT source_event_id FROM points.cap_cuts""",
        ids,
    )
    parked = await conn.fetchval("SELECT count(*) FROM points.parked_events")
    dead = await conn.fetchval("SELECT count(*) FROM points.outbox WHERE topic LIKE '%.dlq%'")
    return describe(sorted(r["s"] for r in absent), len(ids), {"parked now": parked, "dead letters": dead})


async def one_run(
    n: int,
    m: int,
    districts: int,
    naive: int = 3000,
    *,
    start_points: Callable[[Stack], object] | None = None,
    kind: str = "clean",
    order: str = "members_first",
    producer: str = "python",
    processes: int = 1,
    service_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One M1 (kind="clean") or MIX (kind="mix") run; `start_points` starts points another way (py-spy)."""
    records, expected = (workload.mix if kind == "mix" else workload.clean)(n, m)
    members = workload.member_ids(m)
    reports = [eid for t, _, v in records if t == topics.REPORTS_LIFECYCLE and (eid := _event_id(v))]
    stack = bench_stack()
    stack.opt.extra_env.update(service_env or {})
    try:
        admin, bootstrap = await stack.start_infra()
        await pgwork.enable_statements(stack, admin)
        stack.opt.database_url, stack.opt.bootstrap = admin, bootstrap
        info = await stack.start(only=())
        db = _with(info.admin_dsn, database=stack.opt.database)
        await pgwork.create_extension(db)
        conn = await asyncpg.connect(db)
        try:
            note(f"{kind}: {m} members over {districts} district(s), {len(records)} records ({order}, {producer})")
            await register(bootstrap, members, districts)
            if order == "members_first":
                # The members projected by points, then points stopped: the drain below is the credit path.
                stack.start_service("points")
                await until_true(
                    lambda: conn.fetchval("SELECT to_regclass('points.members') IS NOT NULL"), "points migrated"
                )
                await wait_count(conn, "SELECT count(*) FROM points.members", m, "points projects the members")
                stack.stop_service("points")
            produced_s = await (external.produce if producer == "kafkajs" else produce_records)(bootstrap, records)
            before = await pgwork.snapshot(conn)
            log_from = pgwork.log_size(stack.pg.log) if stack.pg else 0
            (start_points or (lambda s: s.start_service("points")))(stack)
            for k in range(2, processes + 1):
                start_extra_service(stack, "points", k)
            meter = CpuMeter(stack_pids(stack))
            await until_true(
                lambda: conn.fetchval("SELECT to_regclass('points.transfers') IS NOT NULL"), "points migrated"
            )
            meter.start()
            target = expected.credited_reports
            try:
                first, t0, t1 = await until_count(
                    lambda: conn.fetchval("SELECT count(*) FROM points.transfers WHERE kind = 'report'"),
                    target,
                    f"{kind} ledger ({districts} district(s), {processes} process(es))",
                    missing=lambda: _missing(conn, reports),
                    alive=lambda: next((f"{p} exited" for p, x in stack.procs.items() if x.poll() is not None), None),
                )
                # MIX: the reversals and dead letters after the last credit, then the whole ledger checked.
                if kind == "mix":
                    await until_count(
                        lambda: conn.fetchval("SELECT count(*) FROM points.transfers WHERE kind <> 'report'"),
                        expected.reversals,
                        "mix reversals",
                        stall_s=30,
                    )
                    await until_count(
                        lambda: conn.fetchval("SELECT count(*) FROM points.outbox WHERE topic LIKE '%.dlq%'"),
                        expected.poison,
                        "mix dead letters",
                        stall_s=30,
                    )
            finally:
                meter.stop()
            rss = peak_rss_mb(stack.procs["points"].pid)
            problems = await workload.check(conn, expected) if kind == "mix" else []
            # Stopped before the counters are read: a busy backend flushes its table and WAL
            # statistics at most once a second and an idle one after 10 s, an exiting one at once.
            for name in list(stack.procs):
                await asyncio.to_thread(stack.stop_service, name)
            after = await pgwork.snapshot(conn)
            events = len(records)
            work = pgwork.work(before, after, events)
            plans = pgwork.slow_plans(stack.pg.log, log_from) if stack.pg else {}
            raw = len(records) / await raw_drain_seconds(bootstrap, [topics.REPORTS_LIFECYCLE], len(records))
            copy = await l1_copy(conn, work.tables, events)
            naive_n, naive_s = (
                await naive_consumer_seconds(bootstrap, topics.REPORTS_LIFECYCLE, db, min(naive, n))
                if naive
                else (0, 0.0)
            )
            pg_version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
    finally:
        await stop_stack(stack)
    if problems:
        raise AssertionError(f"{kind}: the ledger differs from the expected one: " + "; ".join(problems))
    # From the first committed transfer to the last; undefined when one batch committed them all.
    rate = round((target - first) / (t1 - t0)) if first < target and t1 > t0 else None
    per_1000 = meter.per_1000(len(records))
    tuples = work.per_event.get("tuples_inserted_per_event", 0) + work.per_event.get("tuples_updated_per_event", 0)
    ceiling = l1(raw, tuples, copy["copy_rows_per_s"])
    return {
        "kind": kind,
        "order": order,
        "producer": producer,
        "processes": processes,
        "records": len(records),
        "events": n,
        "credits": target,
        "events_per_s": rate,
        "records_per_s": round(rate * len(records) / target) if rate else None,
        "produce_records_per_s": round(len(records) / produced_s) if produced_s else None,
        "raw_drain_msgs_per_s": round(raw),
        "copy_rows_per_s": copy["copy_rows_per_s"],
        "l1_copy": copy,
        "tuples_per_event_for_l1": round(tuples, 3),
        "ceiling_l1_events_per_s": ceiling,
        "ratio_to_l1": round(rate / ceiling, 3) if rate and ceiling else None,
        "naive_events_per_s": round(naive_n / naive_s) if naive_s else None,
        "points_peak_rss_mb": rss,
        "cpu_s_per_1000_events": per_1000,
        "pg_work": {**pgwork.as_dict(work), "slow_plans": plans},
        "guard": pgwork.guard(work.per_event, per_1000.get("postgresql")) if kind == "clean" else [],
        "expected": {k: v for k, v in asdict(expected).items() if k != "net"},
        "postgresql": pg_version,
    }


def ratio(a: object, b: object) -> float | None:
    return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and a and b else None


async def main(n: int = 20000, m: int = 10000, naive: int = 3000, **options: Any) -> dict[str, object]:
    run = await one_run(n, m, districts=50, naive=naive, **options)
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(str(run["postgresql"])), **run}


if __name__ == "__main__":
    from bench import lifecycle

    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    args = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    opts: dict[str, Any] = {
        "kind": "mix" if "--mix" in flags else "clean",
        "order": "cold" if "--cold" in flags else "members_first",
        "producer": "kafkajs" if "--kafkajs" in flags else "python",
        "processes": next((int(f.split("=")[1]) for f in flags if f.startswith("--processes=")), 1),
    }
    try:
        result = lifecycle.run(main(*args, **opts))
    except BenchTimeout as exc:
        sys.exit(f"benchmark failed: {exc}")
    print(json.dumps(result, indent=2))
