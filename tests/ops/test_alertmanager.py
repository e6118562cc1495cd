"""deploy/alertmanager/: the template renders from the environment as in the container, amtool accepts
the result, alerts are routed by severity, and a missing variable stops the start with its name.
(tests/ops/test_prometheus_live.py runs it for real: a firing rule reaches a webhook through it.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.ops.alerting import EXAMPLE_ENV, amtool, render
from tests.ops.prom import alerting_rules


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    result = render(out, EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    return out


def test_amtool_check_config_accepts_the_rendered_config(rendered: Path) -> None:
    result = amtool("check-config", str(rendered))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_values_come_from_the_environment_verbatim(rendered: Path) -> None:
    config = yaml.safe_load(rendered.read_text())
    assert config["global"]["smtp_auth_password"] == EXAMPLE_ENV["ALERT_SMTP_PASSWORD"]
    assert config["global"]["smtp_require_tls"] is True
    critical = next(r for r in config["receivers"] if r["name"] == "critical")
    assert critical["webhook_configs"][0]["url"] == EXAMPLE_ENV["ALERT_WEBHOOK_URL"]
    assert critical["email_configs"][0]["to"] == EXAMPLE_ENV["ALERT_EMAIL_TO"]


@pytest.mark.parametrize(("severity", "receiver"), [("critical", "critical"), ("warning", "warning")])
def test_alerts_are_routed_by_severity(rendered: Path, severity: str, receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={rendered}", f"severity={severity}", "job=points")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [receiver]


def test_every_alert_has_a_severity_that_is_routed(rendered: Path) -> None:
    config = yaml.safe_load(rendered.read_text())
    routed = {m.split("=")[1].strip('"') for route in config["route"]["routes"] for m in route["matchers"]}
    assert {rule["labels"]["severity"] for rule in alerting_rules()} <= routed


def test_inhibitions_name_alerts_that_exist(rendered: Path) -> None:
    import re

    names = {rule["alert"] for rule in alerting_rules()}
    config = yaml.safe_load(rendered.read_text())
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            m = re.fullmatch(r'alertname(=~?)"(.*)"', matcher)
            if m:
                wanted = set(m.group(2).split("|")) if m.group(1) == "=~" else {m.group(2)}
                assert wanted <= names, f"inhibition of unknown alerts: {wanted - names}"


def test_a_missing_variable_stops_rendering_with_its_name(tmp_path: Path) -> None:
    env = {k: v for k, v in EXAMPLE_ENV.items() if k != "ALERT_WEBHOOK_URL"}
    result = render(tmp_path / "out.yml", env)
    assert result.returncode != 0
    assert "ALERT_WEBHOOK_URL is not set" in result.stderr


def test_a_value_that_would_break_the_yaml_is_refused(tmp_path: Path) -> None:
    result = render(tmp_path / "out.yml", {**EXAMPLE_ENV, "ALERT_EMAIL_TO": 'a"b@example.org'})
    assert result.returncode != 0
    assert "ALERT_EMAIL_TO may not contain" in result.stderr
