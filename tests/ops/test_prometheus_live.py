"""A real Prometheus against the running system: every dashboard query returns data, every alert
expression evaluates, the rules Prometheus loads are healthy, and a firing rule reaches a webhook
through a real Alertmanager running deploy/alertmanager/'s config.

postgres_exporter (Debian's) reads the stack's PostgreSQL as the pg_monitor role `incentives db
provision` makes for it, so the PostgreSQL dashboard and alerts are tested like the rest.

Prometheus (Debian's package, installed by `make test`) scrapes the four services of a stack of
this module's own (embedded PostgreSQL and Tansu, the services as processes, as `make run` starts
them) every second, with deploy/prometheus/prometheus.yml's jobs and the production rule files.
Demo riders and a set of operator scenarios (tests/ops/traffic.py) run meanwhile. Then each query
of each committed dashboard and each alert expression goes through Prometheus's HTTP API.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from incentives_kernel import signing
from incentives_ops.demo import DemoTraffic
from incentives_ops.embedded import free_port
from incentives_ops.seed import seed_catalogue
from incentives_ops.stack import Stack, StackOptions

from tests.ops.alerting import EXAMPLE_ENV, render
from tests.ops.prom import (
    PROMETHEUS_CONFIG,
    RULES_DIR,
    alerting_rules,
    binary,
    grafana_expr,
    metric_names,
    panel_queries,
)
from tests.ops.traffic import operator_scenarios
from tests.receiver import Receiver, running
from tests.support import Api, eventually, uid

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SERVICES = ("reports", "points", "rewards", "notify")
SCRAPE_S = 1
RUNBOOK_BASE = "https://git.example.org/city/incentives/blob/main/"

# Long enough for the stack's sweeps (1 s here) and a few scrapes; the wait ends as soon as all is in.
DATA_DEADLINE_S = 60


@dataclass
class Prometheus:
    url: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def monitored_stack() -> AsyncIterator[Stack]:
    """A stack of its own: its sweeps run every second (so overdue reports and expired holds show
    within the test), and its consumer groups and roles do not meet the shared e2e stack's."""
    state = Path(tempfile.mkdtemp(prefix="incentives-ops-"))
    fast = {"REPORTS_OVERDUE_SWEEP_INTERVAL_S": "1", "POINTS_HOLD_SWEEP_INTERVAL_S": "1"}
    stack = Stack(
        StackOptions(
            state_dir=state,
            pg_port=free_port(),
            kafka_port=free_port(),
            ports={name: free_port() for name in SERVICES},
            extra_env={"INCENTIVES_LOG_LEVEL": "WARNING", **fast},
        )
    )
    try:
        await stack.start()
        await stack.wait_ready(timeout=120)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(state, ignore_errors=True)


def prometheus_config(stack: Stack, port: int, exporter: str, alertmanager: str) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with the stack's addresses and a 1 s interval; same jobs, same
    rules, alerts to the test's Alertmanager, and a runbook base (compose takes it from .env)."""
    assert stack.info is not None
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    interval = f"{SCRAPE_S}s"
    config["global"].update(scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval)
    assert config["global"]["external_labels"]["runbook_base"] == "${INCENTIVES_RUNBOOK_BASE_URL}"
    config["global"]["external_labels"]["runbook_base"] = RUNBOOK_BASE  # Prometheus 2.42 expands no variables
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    [manager] = config["alerting"]["alertmanagers"]
    manager["static_configs"] = [{"targets": [alertmanager]}]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(SERVICES) <= set(jobs), f"deploy/prometheus/prometheus.yml lacks jobs: {set(SERVICES) - set(jobs)}"
    others = {"prometheus": f"127.0.0.1:{port}", "postgres": exporter, "alertmanager": alertmanager}
    assert set(jobs) == set(SERVICES) | set(others), sorted(jobs)
    for name, job in jobs.items():
        target = others.get(name) or stack.info.urls[name].removeprefix("http://")
        job.pop("dns_sd_configs", None)  # compose's DNS: here the services are on loopback ports
        job["static_configs"] = [{"targets": [target]}]
    return config


@contextlib.contextmanager
def daemon(command: list[str], log: Path, ready_url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    """A server process of ours, until it answers `ready_url`; stopped (by its pid) afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            tail = log.read_text(errors="replace")[-2000:]
            assert proc.poll() is None, f"{command[0]} exited with {proc.returncode}:\n{tail}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"{command[0]} not ready after 30 s:\n{tail}"
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Webhook:
    """The receiving end of Alertmanager's webhook: keeps every notification's JSON."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        received: list[dict[str, Any]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def alertmanager(webhook: Webhook) -> Iterator[str]:
    """Debian's Alertmanager on deploy/alertmanager/'s config, rendered as the container does, with the
    webhook pointed here. Only the waits are shortened (group_wait 30 s -> 1 s); no mail server runs,
    so the critical receiver's e-mail fails (and is logged) while its webhook is delivered."""
    workdir = Path(tempfile.mkdtemp(prefix="incentives-alertmanager-"))
    env = {**EXAMPLE_ENV, "ALERT_WEBHOOK_URL": webhook.url, "ALERT_SMTP_SMARTHOST": f"127.0.0.1:{free_port()}"}
    rendered = render(workdir / "alertmanager.yml", env)
    assert rendered.returncode == 0, rendered.stderr
    config = yaml.safe_load((workdir / "alertmanager.yml").read_text())
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"], route["group_interval"] = "1s", "1s"
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    command = [
        binary("prometheus-alertmanager"),
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # one instance: no gossip port
        "--log.level=warn",
    ]
    try:
        with daemon(command, workdir / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready"):
            yield f"127.0.0.1:{port}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def exporter(monitored_stack: Stack) -> Iterator[str]:
    """Debian's postgres_exporter on the stack's PostgreSQL, as the read-only role db provision makes."""
    from incentives_ops.provision import provision_monitor_role

    info = monitored_stack.info
    assert info is not None
    role = provision_monitor_role(info.admin_dsn, monitored_stack.opt.database, "monitor-pw-0123456789")
    with concurrent.futures.ThreadPoolExecutor(1) as thread:  # its own loop, beside the session's
        url = thread.submit(asyncio.run, role).result()
    workdir = Path(tempfile.mkdtemp(prefix="incentives-exporter-"))
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "DATA_SOURCE_NAME": url + "?sslmode=disable"}
    command = [binary("prometheus-postgres-exporter"), f"--web.listen-address=127.0.0.1:{port}"]
    try:
        with daemon(command, workdir / "exporter.log", f"http://127.0.0.1:{port}/metrics", env=env):
            yield f"127.0.0.1:{port}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def prometheus(monitored_stack: Stack, exporter: str, alertmanager: str) -> Iterator[Prometheus]:
    workdir = Path(tempfile.mkdtemp(prefix="incentives-prometheus-"))
    port = free_port()
    config = prometheus_config(monitored_stack, port, exporter, alertmanager)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"prometheus exited with {proc.returncode}:\n{server.tail()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"prometheus not ready after 30 s:\n{server.tail()}"
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


async def query(http: httpx.AsyncClient, expr: str) -> dict[str, Any]:
    response = await http.get("/api/v1/query", params={"query": expr})
    body: dict[str, Any] = response.json()
    return body


async def known_names(http: httpx.AsyncClient) -> set[str]:
    body = (await http.get("/api/v1/label/__name__/values")).json()
    return set(body["data"])


def missing_names(expr: str, names: set[str]) -> set[str]:
    """Metric names (and __name__ regexes) in `expr` that Prometheus has never seen."""
    wanted, regexes = metric_names(expr)
    missing = wanted - names
    missing |= {f"~{rx}" for rx in regexes if not any(re.fullmatch(rx, n) for n in names)}
    return missing


async def panel_problems(http: httpx.AsyncClient) -> list[str]:
    """What is wrong with the dashboards' queries now."""
    names = await known_names(http)
    problems = []
    for board, title, raw in panel_queries():
        expr = grafana_expr(raw, SCRAPE_S)
        body = await query(http, expr)
        where = f"{board}: {title}: {expr}"
        if body.get("status") != "success":
            problems.append(f"{where}: {body.get('error')}")
            continue
        missing = missing_names(expr, names)
        if missing:
            problems.append(f"{where}: no such metric {sorted(missing)}")
        elif not body["data"]["result"]:
            problems.append(f"{where}: no data")
    return problems


async def test_every_panel_and_alert_works_against_the_running_system(
    monitored_stack: Stack, prometheus: Prometheus, alertmanager: str, webhook: Webhook
) -> None:
    info = monitored_stack.info
    assert info is not None
    started = time.monotonic()
    await asyncio.to_thread(seed_catalogue, info.urls["rewards"], info.operator_token)
    demo = DemoTraffic(info.bootstrap, riders=20, rate=20, seed=7)
    riders = asyncio.create_task(demo.run())
    # A webhook endpoint, so that deliveries, their latency and the endpoint's circuit have series.
    hooks = running(Receiver(secret=signing.new_secret()))
    receiver = hooks.__enter__()
    try:
        notify = Api(info.urls["notify"], info.operator_token)
        registered = await notify.post(
            "/v1/webhooks",
            {"url": receiver.url, "event_types": ["points.credited", "redemption.rejected"], "secret": receiver.secret},
        )
        assert registered.status_code == 201, registered.text
        await notify.aclose()
        points, reports = Api(info.urls["points"], info.operator_token), Api(info.urls["reports"], info.operator_token)
        rewards = Api(info.urls["rewards"], info.operator_token)
        try:
            await operator_scenarios(info.bootstrap, points, reports)
            # A redemption over HTTP (whatever its outcome, it is counted by outcome).
            asked = {"redemption_id": uid("rd"), "member_id": uid("nobody"), "reward_id": "daily-goods"}
            assert (await rewards.post("/v1/redemptions", asked)).status_code == 202
        finally:
            await points.aclose()
            await reports.aclose()
            await rewards.aclose()
        async with httpx.AsyncClient(base_url=prometheus.url, timeout=10) as http:
            # Wait (up to a deadline) until Prometheus has scraped what the traffic caused.
            problems: list[str] = ["not queried yet"]
            while problems and time.monotonic() - started < DATA_DEADLINE_S:
                await asyncio.sleep(1)
                if riders.done():
                    riders.result()  # the demo riders stopped: say why
                problems = await panel_problems(http)
            assert not problems, "dashboard queries that fail:\n" + "\n".join(problems) + "\n" + prometheus.tail()

            targets = (await http.get("/api/v1/targets")).json()["data"]["activeTargets"]
            assert {t["labels"]["job"]: t["health"] for t in targets} == {
                **dict.fromkeys(SERVICES, "up"),
                "prometheus": "up",
                "postgres": "up",
                "alertmanager": "up",
            }

            # The background jobs' metrics are scraped with their own label: every service's parked-events
            # sweep and points' hold expiry have succeeded. No series of ours has a label `job` of its
            # own, which Prometheus would have renamed exported_job (and the job alerts would miss it).
            body = await query(
                http, '{__name__=~"incentives_(reports|points|rewards|notify)_job_last_success_timestamp_seconds"}'
            )
            succeeded = {(r["metric"]["job"], r["metric"].get("job_name")) for r in body["data"]["result"]}
            assert {*((s, "expire_parked") for s in SERVICES), ("points", "expire_holds")} <= succeeded, succeeded
            clashes = await query(http, '{__name__=~"incentives_.+", exported_job!=""}')
            assert clashes["data"]["result"] == [], clashes["data"]["result"][:3]

            # Every alert expression evaluates (an empty result is fine: nothing is wrong), on metrics
            # that exist: a renamed metric would leave an alert silently empty for ever.
            names = await known_names(http)
            for rule in alerting_rules():
                body = await query(http, rule["expr"])
                assert body.get("status") == "success", f"{rule['alert']}: {body.get('error')}"
                assert not missing_names(rule["expr"], names), f"{rule['alert']}: {missing_names(rule['expr'], names)}"

            # Prometheus itself evaluates the same rule files, every second: all loaded and healthy.
            groups = (await http.get("/api/v1/rules")).json()["data"]["groups"]
            loaded = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
            assert set(loaded) == {r["alert"] for r in alerting_rules()}
            unhealthy = {name: r.get("lastError") for name, r in loaded.items() if r["health"] != "ok"}
            assert not unhealthy, unhealthy

            # And one alert end to end: the dead letter that every service wrote fires for each.
            async def every_service_alerted() -> set[str] | None:
                body = await query(http, 'ALERTS{alertname="DeadLettersArriving",alertstate="firing"}')
                jobs = {r["metric"]["job"] for r in body["data"]["result"]}
                return jobs if jobs == set(SERVICES) else None

            left = max(1.0, DATA_DEADLINE_S - (time.monotonic() - started))
            await eventually(every_service_alerted, timeout=left, what="DeadLettersArriving for every service")

        # ... and reaches someone: Prometheus -> Alertmanager -> the warning route's webhook, with a
        # runbook link that is the configured base + this repository's docs anchor.
        async def notified() -> dict[str, Any] | None:
            for note in webhook.received:
                if note["commonLabels"].get("alertname") == "DeadLettersArriving":
                    return note
            return None

        note = await eventually(notified, timeout=30, what="a DeadLettersArriving notification on the webhook")
        assert note is not None
        assert note["receiver"] == "warning" and note["status"] == "firing"
        alert = note["alerts"][0]
        assert alert["annotations"]["runbook_url"] == RUNBOOK_BASE + "docs/operations.md#deadlettersarriving"
        assert alert["labels"]["job"] in SERVICES

        # Inhibition: while a service is down, its ServiceNotReady says nothing new and is held back.
        async with httpx.AsyncClient(base_url=f"http://{alertmanager}", timeout=10) as am:
            both = [
                {"labels": {"alertname": name, "severity": "critical", "job": "points", "instance": "points:8082"}}
                for name in ("ServiceDown", "ServiceNotReady")
            ]
            assert (await am.post("/api/v2/alerts", json=both)).status_code == 200

            async def inhibited() -> list[str] | None:
                found = (await am.get("/api/v2/alerts", params={"filter": 'alertname="ServiceNotReady"'})).json()
                return found[0]["status"]["inhibitedBy"] if found and found[0]["status"]["inhibitedBy"] else None

            assert await eventually(inhibited, timeout=20, what="ServiceNotReady inhibited by ServiceDown")

            async def critical_notified() -> bool | None:
                names = {n["commonLabels"].get("alertname") for n in webhook.received if n["receiver"] == "critical"}
                return True if "ServiceDown" in names else None

            await eventually(critical_notified, timeout=20, what="ServiceDown on the critical route's webhook")
            sent = {n["commonLabels"].get("alertname") for n in webhook.received}
            assert "ServiceNotReady" not in sent, "an inhibited alert was sent"
    finally:
        riders.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await riders
        hooks.__exit__(None, None, None)
