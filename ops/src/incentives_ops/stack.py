"""The whole system on one machine: infrastructure, provisioning, topics, the four service processes.

Used by `incentives run` (and `make run`) and by the end-to-end tests, so the tests exercise the
processes exactly as an operator starts them. Infrastructure is embedded unless DATABASE_URL /
KAFKA_BOOTSTRAP_SERVERS point at existing servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .embedded import EmbeddedPostgres, EmbeddedTansu, free_port, port_open
from .provision import SERVICES, provision, provision_runtime_roles
from .services import SERVICES as INFO
from .topics_admin import create_topics

# Sources the tests' hand-made events use (hold commands, a gateway), admitted only by the dev stack.
DEV_SOURCES = ("/tests/**", "/gateway")
# Tansu 0.6 sleeps in every fetch (half the wait left, or all of it under 250 ms), records found or not
# (tansu-storage service/fetch.rs; Apache Kafka answers as soon as one arrives), so on the embedded
# broker each hop costs the wait rather than the work. Shortened for the two consumers on the
# report -> transfer -> notification path (M2 at 500/s, median of 3: p99 to the ledger 391 -> 212 ms,
# to the inbox 592 -> 493 ms); the others keep 500 ms, since idle polls cost Tansu CPU (an idle
# stack: 5% of a core, 11% so, 25% with all four at 50). An operator's env still wins.
EMBEDDED_FETCH_WAIT_MS = {"points": 50, "notify": 50}
CONSOLE_OPERATOR = "console"  # the name of the console's own (delegating) operator entry


@dataclass
class StackOptions:
    state_dir: Path
    database_url: str | None = None  # an admin (superuser) URL of an existing server
    bootstrap: str | None = None
    database: str = "incentives"
    pg_port: int = 55432
    kafka_port: int = 19092
    ports: dict[str, int] = field(default_factory=lambda: {n: i.port for n, i in INFO.items()})
    extra_env: dict[str, str] = field(default_factory=dict)
    # Tokens the user gave (INCENTIVES_OPERATOR_TOKENS, _GATEWAY_, _PROVIDER_): kept; only missing ones generated.
    given_tokens: dict[str, str] = field(default_factory=dict)


# Providers the embedded run makes tokens for when none are given: a rider station and a partner shop.
DEMO_PROVIDERS = ("demo-station", "demo-shop")


def first_clear(tokens: str) -> str:
    """The first token of a comma list written in clear (a `sha256:` entry cannot be presented)."""
    return next((t.strip() for t in tokens.split(",") if t.strip() and not t.strip().startswith("sha256:")), "")


def dev_tokens(given: dict[str, str]) -> tuple[str, str, str]:
    """Operator, gateway and provider token lists: the given ones, development ones for the rest."""
    operator = given.get("operator") or "dev-operator-" + secrets.token_urlsafe(24)
    gateway = given.get("gateway") or "dev-gateway-" + secrets.token_urlsafe(24)
    provider = given.get("provider") or ",".join(
        f"{p}:dev-provider-{secrets.token_urlsafe(24)}" for p in DEMO_PROVIDERS
    )
    return operator, gateway, provider


@dataclass
class StackInfo:
    admin_dsn: str
    bootstrap: str
    service_dsns: dict[str, str]
    operator_token: str
    gateway_token: str
    urls: dict[str, str]
    member_token_keys: str = ""  # kid:secret; `incentives member-token M` signs with it
    owner_dsns: dict[str, str] = field(default_factory=dict)  # the schema owners: they run migrations
    pii_key: str = ""  # keyed digests of phone/ID numbers (kernel pii.py)
    replay_key: str = ""  # authenticates `incentives dlq replay`'s marker (kernel replay.py)
    operator_tokens: str = ""  # what the services are given (the user's list, or operator_token)
    gateway_tokens: str = ""
    provider_tokens: str = ""  # provider_id:token,...
    # The console's own delegating entry (INCENTIVES_DELEGATING_TOKENS=console:<token>): it calls the
    # services with it for operators signed in through an identity provider, naming them in X-Acting-Operator.
    console_token: str = ""

    def provider_token(self, provider_id: str) -> str:
        """The (first clear) token of a provider, for demos and tests."""
        for entry in self.provider_tokens.split(","):
            pid, _, token = entry.strip().partition(":")
            if pid == provider_id and not token.startswith("sha256:"):
                return token
        return ""

    def env(self) -> dict[str, str]:
        """The dotenv an operator (or a test) needs to talk to this stack."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "INCENTIVES_ADMIN_DATABASE_URL": self.admin_dsn,
            "INCENTIVES_OPERATOR_TOKEN": self.operator_token,
            "INCENTIVES_GATEWAY_TOKEN": self.gateway_token,
            "INCENTIVES_OPERATOR_TOKENS": self.operator_tokens or self.operator_token,
            "INCENTIVES_GATEWAY_TOKENS": self.gateway_tokens or self.gateway_token,
            "INCENTIVES_PROVIDER_TOKENS": self.provider_tokens,
            "INCENTIVES_MEMBER_TOKEN_KEYS": self.member_token_keys,
            "INCENTIVES_REPLAY_KEY": self.replay_key,
        }
        for name, url in self.urls.items():
            env[f"{name.upper()}_URL"] = url
        return env


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.opt = options
        self.state = options.state_dir
        self.logs = self.state / "logs"
        self.pg: EmbeddedPostgres | None = None
        self.tansu: EmbeddedTansu | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.console: subprocess.Popen[bytes] | None = None  # not a service: kept out of procs
        self.info: StackInfo | None = None

    async def start_infra(self) -> tuple[str, str]:
        self.logs.mkdir(parents=True, exist_ok=True)
        admin = self.opt.database_url
        if not admin:
            port = self.opt.pg_port if not port_open(self.opt.pg_port) else free_port()
            self.pg = EmbeddedPostgres(self.state / "pgdata", port)
            admin = await asyncio.to_thread(self.pg.start)
        bootstrap = self.opt.bootstrap
        if not bootstrap:
            port = self.opt.kafka_port if not port_open(self.opt.kafka_port) else free_port()
            self.tansu = EmbeddedTansu(port, self.logs / "tansu.log")
            bootstrap = await asyncio.to_thread(self.tansu.start)
        return admin, bootstrap

    async def start(self, only: tuple[str, ...] = SERVICES) -> StackInfo:
        admin, bootstrap = await self.start_infra()
        passwords = {s: secrets.token_urlsafe(18) for s in SERVICES}
        owners = await provision(admin, self.opt.database, passwords)
        dsns = await provision_runtime_roles(admin, self.opt.database, {s: secrets.token_urlsafe(18) for s in SERVICES})
        await create_topics(bootstrap)
        # As long as production requires (32 characters at least), so a test may run a service as production.
        operators, gateways, providers = dev_tokens(self.opt.given_tokens)
        urls = {n: f"http://127.0.0.1:{p}" for n, p in self.opt.ports.items()}
        member_keys = "dev:" + secrets.token_urlsafe(32)
        self.info = StackInfo(
            admin,
            bootstrap,
            dsns,
            first_clear(operators),
            first_clear(gateways),
            urls,
            member_keys,
            owners,
            self._pii_key(),
            secrets.token_urlsafe(32),
            operators,
            gateways,
            providers,
            "dev-console-" + secrets.token_urlsafe(24),
        )
        for name in only:
            self.start_service(name)
        return self.info

    def _pii_key(self) -> str:
        """Kept beside the database it keyed: a new key would make the stored digests unfindable."""
        path = self.state / "pii.key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def service_env(self, name: str) -> dict[str, str]:
        assert self.info is not None
        prefix = INFO[name].env_prefix
        env = {k: v for k, v in os.environ.items() if not k.endswith(("DATABASE_URL",))}
        env.update(
            {
                "INCENTIVES_ENV": "dev",
                "KAFKA_BOOTSTRAP_SERVERS": self.info.bootstrap,
                "INCENTIVES_OPERATOR_TOKENS": self.info.operator_tokens or self.info.operator_token,
                "INCENTIVES_DELEGATING_TOKENS": (
                    f"{CONSOLE_OPERATOR}:{self.info.console_token}" if self.info.console_token else ""
                ),
                "INCENTIVES_GATEWAY_TOKENS": self.info.gateway_tokens or self.info.gateway_token,
                "INCENTIVES_PROVIDER_TOKENS": self.info.provider_tokens,
                "INCENTIVES_MEMBER_TOKEN_KEYS": self.info.member_token_keys,
                "INCENTIVES_PII_KEY": self.info.pii_key,
                "INCENTIVES_REPLAY_KEY": self.info.replay_key,
                # Webhook receivers of the dev stack and its tests listen on this machine (notify egress.py).
                "NOTIFY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
                f"{prefix}DATABASE_URL": self.info.service_dsns[name],
                f"{prefix}MIGRATION_DATABASE_URL": self.info.owner_dsns.get(name, ""),
                # The dev stack's test producers, on top of the real allow-list (sources.toml).
                "INCENTIVES_SOURCES_EXTRA": ",".join(DEV_SOURCES),
                f"{prefix}HTTP_PORT": str(self.opt.ports[name]),
                f"{prefix}HTTP_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.tansu is not None and name in EMBEDDED_FETCH_WAIT_MS:
            env.setdefault(f"{prefix}CONSUMER_FETCH_MAX_WAIT_MS", str(EMBEDDED_FETCH_WAIT_MS[name]))
        env.update(self.opt.extra_env)
        return env

    def start_service(self, name: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "incentives_ops.cli", "serve", name],
            env={**self.service_env(name), **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def console_env(self, port: int, extra_env: dict[str, str] | None = None) -> dict[str, str]:
        """The environment `incentives console` runs with beside this stack (none of the caller's CONSOLE_
        variables: `extra_env` says what differs)."""
        assert self.info is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
        env.update({f"{name.upper()}_URL": url for name, url in self.info.urls.items()})
        env.update({"CONSOLE_ENV": "dev", "CONSOLE_HTTP_HOST": "127.0.0.1", "CONSOLE_HTTP_PORT": str(port)})
        env.update({"CONSOLE_SERVICE_TOKEN": self.info.console_token, "PYTHONUNBUFFERED": "1", **(extra_env or {})})
        return env

    def start_console(self, port: int, extra_env: dict[str, str] | None = None) -> str:
        """The operator console beside the services, as `incentives console` runs it; returns its URL."""
        env = self.console_env(port, extra_env)
        log = (self.logs / "console.log").open("ab")
        self.console = subprocess.Popen(
            [sys.executable, "-m", "incentives_ops.cli", "console"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return f"http://127.0.0.1:{port}"

    async def wait_console(self, url: str, timeout: float = 60) -> None:
        """Until the console answers /healthz; raises with its log's tail if it exits first."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.console is None or self.console.poll() is not None:
                    tail = (self.logs / "console.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the console exited:\n{tail}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url + "/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise TimeoutError(f"the console did not answer at {url} within {timeout:.0f} s")

    def stop_console(self) -> None:
        if self.console is not None and self.console.poll() is None:
            self.console.terminate()
            try:
                self.console.wait(15)
            except subprocess.TimeoutExpired:
                self.console.kill()
                self.console.wait(5)

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    async def wait_ready(self, timeout: float = 90) -> dict[str, float]:
        """Wait until every service answers /readyz 200; returns seconds each took."""
        assert self.info is not None
        started = time.monotonic()
        took: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=3) as http:
            while len(took) < len(self.procs):
                for name, proc in self.procs.items():
                    if name in took:
                        continue
                    if proc.poll() is not None:
                        tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(self.info.urls[name] + "/readyz")).status_code == 200:
                            took[name] = time.monotonic() - started
                if time.monotonic() - started > timeout:
                    missing = sorted(set(self.procs) - set(took))
                    raise TimeoutError(f"not ready after {timeout:.0f} s: {', '.join(missing)}")
                await asyncio.sleep(0.3)
        return took

    def stop(self) -> None:
        self.stop_console()
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.procs[name].send_signal(signal.SIGTERM)
        for name in list(self.procs):
            self.stop_service(name)
        if self.tansu is not None:
            self.tansu.stop()
        if self.pg is not None:
            self.pg.stop()

    def write_env(self, path: Path) -> None:
        assert self.info is not None
        lines = [f"{k}={v}" for k, v in self.info.env().items()]
        path.write_text("# written by `incentives run`; development values only\n" + "\n".join(lines) + "\n")
        path.chmod(0o600)
