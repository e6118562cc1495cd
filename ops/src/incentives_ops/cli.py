"""`incentives`: the operator's one command line.

incentives run                    the whole system on this machine (embedded stack, demo traffic)
incentives serve SERVICE          one service process (HTTP API, consumers, outbox relay)
incentives topics create|list     every topic with its partitions (inbound, outbound, internal, .dlq)
incentives db provision           database, one role and one schema per service
incentives dlq replay TOPIC       re-publish the proven dead letters of TOPIC to it; exit 1 if any refused
incentives seed                   the reward catalogue, through the rewards API
incentives verify-round ROUND     re-compute an allocation round from its stored figures and seed
incentives member-token MEMBER    a short-lived token that reads and acts for MEMBER only
incentives contract export        docs/contract/: AsyncAPI, OpenAPI per service, a JSON Schema per event
incentives console                the operator console, a web app over the services (CONSOLE_* settings)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from incentives_kernel.topics import ALL_TOPICS

from .failures import Unusable, require_broker, require_database, require_http


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


class MissingSetting(Unusable):
    """A command needs a value that is neither an option nor in the environment (exit 2)."""


def _need(value: str | None, variable: str, hint: str = "") -> str:
    found = value or _env(variable)
    if not found:
        raise MissingSetting(f"{variable} is not set{hint}")
    return found


def cmd_serve(args: argparse.Namespace) -> int:
    from .services import serve

    serve(args.service)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from .topics_admin import create_topics, list_topics, sasl_from_env

    bootstrap = _need(args.bootstrap, "KAFKA_BOOTSTRAP_SERVERS")
    asyncio.run(require_broker(bootstrap, "KAFKA_BOOTSTRAP_SERVERS (or --bootstrap)", sasl_from_env(), args.wait_s))
    if args.action == "create":
        created = asyncio.run(create_topics(bootstrap))
        print(f"{len(created)} created, {len(ALL_TOPICS) - len(created)} existed")
        for name in created:
            print(f"  + {name}")
    else:
        for name in asyncio.run(list_topics(bootstrap)):
            print(name)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from .provision import (
        MONITOR_ROLE,
        SERVICES,
        provision,
        provision_monitor_role,
        provision_runtime_roles,
        runtime_role,
    )

    admin = _need(args.admin_url, "INCENTIVES_ADMIN_DATABASE_URL")
    passwords = {service: _need(None, f"{service.upper()}_DB_PASSWORD") for service in SERVICES}
    # The services run as `<service>_app` (DML only; no UPDATE/DELETE of points' transfers); the
    # owner roles above only run migrations (<SERVICE>_MIGRATION_DATABASE_URL).
    app_passwords = {service: _need(None, f"{service.upper()}_APP_DB_PASSWORD") for service in SERVICES}
    asyncio.run(require_database(admin, "INCENTIVES_ADMIN_DATABASE_URL (or --admin-url)"))
    asyncio.run(provision(admin, args.database, passwords))
    asyncio.run(provision_runtime_roles(admin, args.database, app_passwords))
    roles = ", ".join(f"{s} (owner) + {runtime_role(s)} (runtime)" for s in SERVICES)
    monitor = _env("MONITOR_DB_PASSWORD")
    if monitor:  # the read-only role of postgres_exporter (compose's postgres-exporter)
        asyncio.run(provision_monitor_role(admin, args.database, monitor))
        roles += f", {MONITOR_ROLE} (pg_monitor)"
    print(f"database {args.database}: schemas and roles provisioned: {roles}")
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from .dlq import replay
    from .topics_admin import idempotence_from_env, sasl_from_env

    bootstrap = _need(args.bootstrap, "KAFKA_BOOTSTRAP_SERVERS")
    asyncio.run(require_broker(bootstrap, "KAFKA_BOOTSTRAP_SERVERS (or --bootstrap)", sasl_from_env()))
    idempotent = idempotence_from_env()
    try:
        done = asyncio.run(replay(bootstrap, args.topic, limit=args.limit, dry_run=args.dry_run, idempotent=idempotent))
    except ValueError as exc:  # no replay key, or a short one: before anything is read
        raise MissingSetting(str(exc)) from None
    source = f"{args.topic}.dlq"
    for r in done.refused:
        print(f"refused {source}/{r.partition}/{r.offset}: {r.reason}: {r.message}")
    n = len(done.replayed)
    summary = f"{'would re-publish' if args.dry_run else 're-published'} {n} dead letters to {args.topic}"
    if done.refused:
        reasons = sorted({r.reason for r in done.refused})
        summary += f"; refused {len(done.refused)} ({', '.join(reasons)}): not re-published, see docs/operations.md"
    print(summary)
    if not done.verified:
        print("proofs not verified: INCENTIVES_REPLAY_KEY is not set (the real replay needs it)", file=sys.stderr)
    # A refusal is the operator's to look into (a forgery in a .dlq topic, or the wrong key): never exit 0 on one.
    return 1 if done.refused else 0


def cmd_seed(args: argparse.Namespace) -> int:
    from .seed import seed_catalogue

    token = _need(args.token, "INCENTIVES_OPERATOR_TOKEN", " (or pass --token)")
    require_http(args.rewards_url, "REWARDS_URL (or --rewards-url)")
    created, existing = seed_catalogue(args.rewards_url, token)
    print(f"catalogue: {created} created, {existing} already there")
    return 0


def cmd_verify_round(args: argparse.Namespace) -> int:
    from .verify_round import verify_round

    token = _need(args.token, "INCENTIVES_OPERATOR_TOKEN", " (or pass --token; a gateway token works too)")
    require_http(args.rewards_url, "REWARDS_URL (or --rewards-url)")
    report, ok = verify_round(args.rewards_url, token, args.round_id)
    print(report)
    return 0 if ok else 1


def cmd_audit(args: argparse.Namespace) -> int:
    from .audit import audit, render
    from .provision import _with

    admin = _need(args.admin_url, "INCENTIVES_ADMIN_DATABASE_URL")
    from points import policy

    from .topics_admin import sasl_from_env

    bootstrap = args.bootstrap or _env("KAFKA_BOOTSTRAP_SERVERS")
    asyncio.run(
        require_database(_with(admin, database=args.database), "INCENTIVES_ADMIN_DATABASE_URL (or --admin-url)")
    )
    if bootstrap:
        asyncio.run(require_broker(bootstrap, "KAFKA_BOOTSTRAP_SERVERS (or --bootstrap)", sasl_from_env()))

    timezone = _env("INCENTIVES_TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai"
    policy_file = _env("POINTS_POLICY_FILE")
    rules = policy.load(Path(policy_file) if policy_file else None).rules  # the cap the ledger was built under
    results = asyncio.run(
        audit(
            _with(admin, database=args.database),
            timezone=timezone,
            daily_cap=rules.daily_cap,
            capped_kinds=tuple(sorted(rules.capped_kinds)),
            settle_s=args.settle_s,
            settled=args.settled,
            bootstrap=bootstrap,
        )
    )
    print(render(results))
    return 0 if all(c.ok for c in results) else 1


def cmd_member_token(args: argparse.Namespace) -> int:
    from incentives_kernel.member_tokens import MemberTokenConfigError, MemberTokenKeys

    keys = _need(args.keys, "INCENTIVES_MEMBER_TOKEN_KEYS", " (or pass --keys kid:secret)")
    try:
        minted = MemberTokenKeys.parse(keys).mint(args.member_id, args.ttl)
    except (MemberTokenConfigError, ValueError) as exc:
        print(f"incentives member-token: {exc}", file=sys.stderr)
        return 2
    print(minted.token)
    print(f"expires {minted.expires_at.isoformat()}", file=sys.stderr)
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    from .contract_export import export

    written = export(Path(args.out))
    print(f"{len(written)} files written to {args.out}")
    return 0


def cmd_console(_args: argparse.Namespace) -> int:
    from incentives_console.server import main as console

    return console()


def cmd_run(args: argparse.Namespace) -> int:
    from .run import run

    return run(Path(args.state_dir), demo=os.environ.get("DEMO", "1") != "0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="incentives", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the whole system on this machine")
    p.add_argument("--state-dir", default=_env("INCENTIVES_STATE_DIR", ".run"))
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="run one service")
    p.add_argument("service", choices=["reports", "points", "rewards", "notify"])
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("topics", help="create or list topics")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--bootstrap")
    p.add_argument("--wait-s", type=float, default=10.0, help="how long to wait for the broker to answer")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("db", help="database administration")
    p.add_argument("action", choices=["provision"])
    p.add_argument("--admin-url")
    p.add_argument("--database", default=_env("INCENTIVES_DATABASE", "incentives"))
    p.set_defaults(func=cmd_db)

    p = sub.add_parser(
        "dlq", help="dead-letter topics (replays only what a service dead-lettered; exit 1 on a refusal)"
    )
    p.add_argument("action", choices=["replay"])
    p.add_argument("topic", help="the original topic, e.g. incentives.reports.v1")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--bootstrap")
    p.set_defaults(func=cmd_dlq)

    p = sub.add_parser("audit", help="check the ledger and every service's bookkeeping; exit 1 on a violation")
    p.add_argument("--admin-url")
    p.add_argument("--database", default=_env("INCENTIVES_DATABASE", "incentives"))
    p.add_argument("--bootstrap", help="also check consumer offsets against the inboxes (KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument("--settle-s", type=float, default=60.0, help="grace for work in flight (outbox, sagas)")
    p.add_argument("--settled", action="store_true", help="traffic has stopped: also require lag 0, nothing parked")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("seed", help="seed the reward catalogue")
    p.add_argument("--rewards-url", default=_env("REWARDS_URL", "http://127.0.0.1:8083"))
    p.add_argument("--token")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("verify-round", help="re-compute an allocation round's result; exit 1 if it differs")
    p.add_argument("round_id")
    p.add_argument("--rewards-url", default=_env("REWARDS_URL", "http://127.0.0.1:8083"))
    p.add_argument("--token")
    p.set_defaults(func=cmd_verify_round)

    p = sub.add_parser("member-token", help="mint a token scoped to one member (signed with the first key)")
    p.add_argument("member_id")
    p.add_argument("--ttl", type=int, default=900, help="lifetime in seconds (at most 86400)")
    p.add_argument("--keys", help="default: INCENTIVES_MEMBER_TOKEN_KEYS")
    p.set_defaults(func=cmd_member_token)

    p = sub.add_parser("contract", help="export the contract files (AsyncAPI, OpenAPI, JSON Schemas)")
    p.add_argument("action", choices=["export"])
    p.add_argument("--out", default="docs/contract", help="directory (default: docs/contract)")
    p.set_defaults(func=cmd_contract)
    p = sub.add_parser("console", help="the operator console (docs/console.md)")
    p.set_defaults(func=cmd_console)

    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except Unusable as exc:
        # A wrong setting or an unreachable dependency: one line, what and how to fix (failures.py).
        print(f"incentives {args.command}: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
