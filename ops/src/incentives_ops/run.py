"""`incentives run`: the embedded stack with a seeded catalogue and demo traffic, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import asyncpg

from .demo import DemoTraffic
from .embedded import free_port, port_open
from .seed import seed_catalogue
from .stack import Stack, StackInfo, StackOptions

COUNTERS_SQL = """
SELECT (SELECT count(*) FROM reports.reports) AS reports,
       (SELECT count(*) FROM points.transfers) AS transfers,
       (SELECT COALESCE(sum(amount), 0) FROM points.transfers WHERE credit_account LIKE 'member:%') AS points,
       (SELECT count(*) FROM notify.notifications) AS notifications,
       (SELECT count(*) FROM reports.inbox WHERE outcome = 'dead_lettered')
     + (SELECT count(*) FROM points.inbox WHERE outcome = 'dead_lettered')
     + (SELECT count(*) FROM notify.inbox WHERE outcome = 'dead_lettered') AS dead_letters
"""


def options_from_env(state_dir: Path) -> StackOptions:
    """Existing servers (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS), ports (REPORTS_HTTP_PORT, ...,
    INCENTIVES_PG_PORT, INCENTIVES_KAFKA_PORT) and tokens (INCENTIVES_OPERATOR_TOKENS, _GATEWAY_TOKENS,
    _PROVIDER_TOKENS: kept as given, only the missing ones generated) from the environment."""
    defaults = StackOptions(state_dir=state_dir)
    ports = {name: int(os.environ.get(f"{name.upper()}_HTTP_PORT") or port) for name, port in defaults.ports.items()}
    return StackOptions(
        state_dir=state_dir,
        database_url=os.environ.get("DATABASE_URL") or None,
        bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        pg_port=int(os.environ.get("INCENTIVES_PG_PORT") or defaults.pg_port),
        kafka_port=int(os.environ.get("INCENTIVES_KAFKA_PORT") or defaults.kafka_port),
        ports=ports,
        given_tokens={
            role: os.environ[f"INCENTIVES_{role.upper()}_TOKENS"].strip()
            for role in ("operator", "gateway", "provider")
            if os.environ.get(f"INCENTIVES_{role.upper()}_TOKENS", "").strip()
        },
    )


def _masked(dsn: str) -> str:
    """A connection URL fit for a terminal: the password, if any, hidden."""
    from .failures import masked

    return masked(dsn)


def _say(text: str = "") -> None:
    print(text, flush=True)


# librdkafka (kcat, confluent-kafka) fails on the embedded Tansu 0.6.0's ApiVersions v3 answer.
LIBRDKAFKA_NOTE = (
    "kafkajs and aiokafka clients only: librdkafka ones (kcat, confluent-kafka) cannot read Tansu 0.6.0's "
    'ApiVersions v3 answer ("Read underflow")'
)


async def _check_given_servers(options: StackOptions) -> None:
    """Servers the user named (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS) must answer before anything starts."""
    from .failures import require_broker, require_database

    if options.database_url:
        await require_database(options.database_url, "DATABASE_URL (a superuser URL, or unset it for the embedded one)")
    if options.bootstrap:
        await require_broker(options.bootstrap, "KAFKA_BOOTSTRAP_SERVERS (or unset it for the embedded broker)")


async def _main(state_dir: Path, demo: bool, stop: asyncio.Event) -> None:
    started = time.monotonic()
    options = options_from_env(state_dir)
    await _check_given_servers(options)
    stack = Stack(options)
    try:
        _say("starting PostgreSQL and the broker ...")
        info = await stack.start()
        _say("starting reports, points, rewards, notify ...")
        await stack.wait_ready(timeout=120)
        created, _ = await asyncio.to_thread(seed_catalogue, info.urls["rewards"], info.operator_token)
        console = await _start_console(stack)
        stack.write_env(state_dir / "env")
        _say()
        _say("incentives is running (ready in %.1f s)" % (time.monotonic() - started))
        for name, url in info.urls.items():
            _say(f"  {name:<8} {url}   docs {url}/docs   metrics {url}/metrics")
        _say(f"  console  {console}   (sign in with the operator token)")
        _say(f"  broker   {info.bootstrap}" + (f"   ({LIBRDKAFKA_NOTE})" if stack.tansu else ""))
        _say(f"  database {_masked(info.admin_dsn)}  (schemas reports, points, rewards, notify)")
        _say(f"  operator token  {info.operator_token}")
        _say(f"  gateway token   {info.gateway_token}")
        for provider_id in sorted({e.partition(":")[0] for e in info.provider_tokens.split(",") if e.strip()}):
            _say(f"  provider token  {provider_id}: {info.provider_token(provider_id) or '(given as a digest)'}")
        given = sorted(options.given_tokens)
        _say(f"  tokens given    {', '.join(given) if given else 'none'} (kept); the others generated")
        _say(
            "  intake          OPEN (development): decisions (statuses, attendance, registrations) need no proof here;"
            " production requires a signature or an exclusive topic (docs/security-intake.md)"
        )
        _say(f"  member tokens   incentives member-token M  (after: set -a; . {state_dir / 'env'}; set +a)")
        _say(f"  written to {state_dir / 'env'}; logs in {state_dir / 'logs'}; catalogue seeded ({created} new)")
        _say(
            f"  try: curl -H 'Authorization: Bearer {info.gateway_token}' "
            f"{info.urls['points']}/v1/leaderboard?period=all"
        )
        _say("Ctrl-C stops everything.")
        _say()
        traffic = DemoTraffic(info.bootstrap) if demo else None
        demo_task = asyncio.create_task(traffic.run()) if traffic else None
        awards_task = asyncio.create_task(_demo_awards(info)) if demo else None
        await _counters(stack, info.admin_dsn, traffic, stop, started)
        if awards_task:
            awards_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await awards_task
        if demo_task:
            demo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await demo_task
    finally:
        _say("\nstopping ...")
        await asyncio.to_thread(stack.stop)
        _say("stopped; nothing left running.")


async def _demo_awards(info: StackInfo) -> None:
    """Version 2's path once (demo_awards.py): an award round into its notice, vouchers a station redeems."""
    from . import demo_awards

    try:
        await demo_awards.run(info, _say)
    except Exception as exc:  # a demo that fails says so and leaves the run alone
        _say(f"  demo awards failed: {exc}")


async def _start_console(stack: Stack) -> str:
    """The operator console on CONSOLE_HTTP_PORT (default 8090; another free port if that is taken)."""
    wanted = int(os.environ.get("CONSOLE_HTTP_PORT") or 8090)
    # Sign-in through an identity provider, if the developer configured one (docs/console.md shows how).
    oidc = {k: v for k, v in os.environ.items() if k.startswith("CONSOLE_OIDC_")}
    url = stack.start_console(wanted if not port_open(wanted) else free_port(), oidc)
    await stack.wait_console(url)
    return url


async def _counters(
    stack: Stack, admin_dsn: str, traffic: DemoTraffic | None, stop: asyncio.Event, started: float
) -> None:
    from .provision import _with

    conn = await asyncpg.connect(_with(admin_dsn, database=stack.opt.database))
    first_points: float | None = None
    tty = sys.stdout.isatty()
    try:
        while not stop.is_set():
            for name, proc in {**stack.procs, "console": stack.console}.items():
                if proc is not None and proc.poll() is not None:
                    _say(f"\n{name} exited with {proc.returncode}; see {stack.logs / (name + '.log')}")
                    stop.set()
            row = await conn.fetchrow(COUNTERS_SQL)
            assert row is not None
            if first_points is None and row["points"] > 0:
                first_points = time.monotonic() - started
            line = (
                f"[{time.monotonic() - started:6.0f}s] events sent {traffic.stats.published if traffic else 0:>6} | "
                f"reports {row['reports']:>5} | transfers {row['transfers']:>5} | points {row['points']:>6} | "
                f"notifications {row['notifications']:>5} | dead letters {row['dead_letters']:>3}"
            )
            if first_points is not None:
                line += f" | first points after {first_points:.1f}s"
            print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0 if tty else 5.0)
    finally:
        await conn.close()


def run(state_dir: Path, demo: bool = True) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(_main(state_dir, demo, stop))
    finally:
        loop.close()
    return 0
