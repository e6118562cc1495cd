"""The runbook's Kafka commands, exactly as docs/operations.md writes them.

- `docker compose run --rm dlq-replay ARGS` (dry runs) run as `incentives dlq replay ARGS` against the
  embedded stack;
- `docker compose exec kafka /incentives/kafka-admin TOOL ARGS` run deploy/kafka/kafka-admin with
  stand-ins for Kafka's tools (no Java here) that record what they were given;
- `docker compose run --rm kcat ARGS` run Debian's kcat with deploy/kafka/kcat.conf (the compose
  service's entrypoint) against an address where nothing listens: the file and the arguments must be
  accepted, the connection alone fails. kcat cannot talk to the embedded Tansu, and there is no
  Apache Kafka with SASL on this machine.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from incentives_ops.embedded import free_port
from incentives_ops.stack import Stack

from tests.ops.prom import OPERATIONS_DOC, ROOT

KAFKA_ADMIN = ROOT / "deploy" / "kafka" / "kafka-admin"
KCAT_CONF = ROOT / "deploy" / "kafka" / "kcat.conf"
# Kafka 4.2's tools the runbook may name (the stand-ins take these names).
KAFKA_TOOLS = {
    "kafka-topics.sh",
    "kafka-consumer-groups.sh",
    "kafka-console-consumer.sh",
    "kafka-console-producer.sh",
    "kafka-broker-api-versions.sh",
    "kafka-configs.sh",
    "kafka-acls.sh",
}


def runbook_commands(prefix: str) -> list[list[str]]:
    """Every command of a bash block of operations.md that starts with `prefix` (continuations joined;
    `$group` of the restore loop is one of the groups)."""
    text = OPERATIONS_DOC.read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().replace('"$group"', "points")
            if line.startswith(prefix):
                commands.append(shlex.split(line, comments=True)[len(shlex.split(prefix)) :])
    assert commands, f"operations.md has no `{prefix} ...` command"
    return commands


def test_the_runbook_names_the_tools_the_tests_run() -> None:
    assert len(runbook_commands("docker compose exec kafka /incentives/kafka-admin")) >= 4
    assert len(runbook_commands("docker compose run --rm kcat")) >= 2
    assert len(runbook_commands("docker compose run --rm dlq-replay")) == 2
    # None of the old forms that failed against the SASL listeners is left.
    assert "/opt/kafka/bin/" not in OPERATIONS_DOC.read_text()


# ------------------------------------------------------------------------------------------ kafka-admin


@pytest.fixture
def stand_ins(tmp_path: Path) -> Path:
    """A KAFKA_BIN whose tools write their arguments and the client file they were given to a log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in KAFKA_TOOLS:
        script = bin_dir / tool
        script.write_text(
            "#!/bin/bash\n"
            f'echo "{tool} $*" >> "{tmp_path}/calls"\n'
            'for a in "$@"; do if [ -f "$a" ]; then stat -c %a "$a" >> "' + str(tmp_path) + '/calls"; '
            'cat "$a" >> "' + str(tmp_path) + '/calls"; fi; done\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


@pytest.mark.parametrize("command", runbook_commands("docker compose exec kafka /incentives/kafka-admin"))
def test_kafka_admin_commands_log_in_as_the_admin(command: list[str], stand_ins: Path) -> None:
    tool, *args = command
    assert tool in KAFKA_TOOLS, f"{tool} is not one of Kafka's tools"
    env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(stand_ins), "ADMIN_CLIENT_PASSWORD": "pw-from-env"}
    result = subprocess.run(["bash", str(KAFKA_ADMIN), tool, *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    calls = (stand_ins.parent / "calls").read_text()
    first = calls.splitlines()[0]
    assert first.startswith(f"{tool} --bootstrap-server localhost:19092 ")
    option = "--consumer.config" if tool == "kafka-console-consumer.sh" else "--command-config"
    assert f" {option} " in first
    assert first.endswith(" ".join(args))
    assert "\n600\n" in calls, "the client file must be readable by its owner only"
    assert (
        'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" ' in calls
    )
    assert 'password="pw-from-env";' in calls
    assert "security.protocol=SASL_PLAINTEXT" in calls and "sasl.mechanism=PLAIN" in calls


def test_kafka_admin_refuses_to_run_without_the_password(stand_ins: Path) -> None:
    env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(stand_ins)}
    result = subprocess.run(["bash", str(KAFKA_ADMIN), "kafka-topics.sh", "--list"], env=env, capture_output=True)
    assert result.returncode != 0
    assert b"ADMIN_CLIENT_PASSWORD is not set" in result.stderr
    assert not (stand_ins.parent / "calls").exists()


# ------------------------------------------------------------------------------------------ kcat


def kcat(args: list[str], conf: Path = KCAT_CONF) -> tuple[int | None, str]:
    """kcat as the compose service runs it, but at an address where no broker listens. None: still
    trying to connect after 10 s (arguments and file accepted; stopped here)."""
    binary = shutil.which("kcat")
    assert binary, "kcat is not on PATH: `make test` installs it (scripts/ensure-ops-tools)"
    command = [binary, "-F", str(conf), "-X", "sasl.password=pw", "-b", f"127.0.0.1:{free_port()}", "-m", "3", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired as exc:
        out = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return None, out
    return result.returncode, result.stderr


def assert_only_the_connection_failed(code: int | None, stderr: str) -> None:
    assert code != 0
    assert f"Reading configuration from file {KCAT_CONF}" in stderr
    assert "sasl_plaintext://127.0.0.1:" in stderr, "kcat must use SASL from the file"
    assert "Connection refused" in stderr or "Broker transport failure" in stderr, stderr
    assert "No such configuration property" not in stderr and "Usage" not in stderr, stderr


@pytest.mark.parametrize("command", runbook_commands("docker compose run --rm kcat"))
def test_kcat_commands_and_the_shipped_file_are_accepted(command: list[str]) -> None:
    assert_only_the_connection_failed(*kcat(command))


def test_kcat_would_say_so_if_the_file_were_wrong(tmp_path: Path) -> None:
    """The check above can fail: a misspelt property is refused at once, before any connection."""
    wrong = tmp_path / "kcat.conf"
    wrong.write_text(KCAT_CONF.read_text().replace("sasl.username=", "sasl.usrname="))
    code, stderr = kcat(["-L"], wrong)
    assert code != 0
    assert "No such configuration property" in stderr or "Configuration property" in stderr, stderr


def test_the_compose_kcat_service_uses_the_shipped_file() -> None:
    import yaml

    kcat_service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kcat"]
    assert ("./deploy/kafka/kcat.conf:/etc/kcat.conf:ro") in kcat_service["volumes"]
    assert "kcat -F /etc/kcat.conf -X sasl.password=" in " ".join(kcat_service["entrypoint"])


# ------------------------------------------------------------------------------------------ dlq-replay


@pytest.mark.e2e
@pytest.mark.parametrize(
    "command",
    [c for c in runbook_commands("docker compose run --rm dlq-replay") if "--dry-run" in c],
)
def test_dlq_replay_dry_runs_against_the_embedded_stack(command: list[str], stack: Stack) -> None:
    assert stack.info is not None
    # The compose job carries the services' replay key: with it, the dry run verifies every dead letter's proof.
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.info.bootstrap,
        "INCENTIVES_ENV": "dev",
        "INCENTIVES_REPLAY_KEY": stack.info.replay_key,
    }
    result = subprocess.run(
        [sys.executable, "-m", "incentives_ops.cli", "dlq", "replay", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"would re-publish \d+ dead letters to incentives\.[a-z.]+v1\n", result.stdout), result.stdout
