"""promtool on the committed Prometheus files: the config (with the rules it loads), and the rules'
unit tests, plus what promtool does not check: every alert has a runbook, and is tested both ways."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict

import yaml

from tests.ops.prom import (
    OPERATIONS_DOC,
    PROMETHEUS_CONFIG,
    RULE_TESTS,
    alerting_rules,
    binary,
    rule_files,
)

# Relative to where this repository is browsable: the external label runbook_base, which
# deploy/prometheus/prometheus.yml takes from INCENTIVES_RUNBOOK_BASE_URL.
RUNBOOK_PREFIX = "{{ $externalLabels.runbook_base }}docs/operations.md#"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=120)


def test_promtool_check_config_accepts_the_config_and_its_rules() -> None:
    result = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    # The config loads the rules by a relative glob: make sure it found every rule file, not none.
    assert f"SUCCESS: {len(rule_files())} rule files found" in result.stdout + result.stderr


def test_promtool_test_rules_passes() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_tests_load_every_rule_file() -> None:
    loaded = {(RULE_TESTS.parent / f).resolve() for f in yaml.safe_load(RULE_TESTS.read_text())["rule_files"]}
    assert loaded == {p.resolve() for p in rule_files()}


def test_every_alert_is_tested_firing_and_quiet() -> None:
    fired: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in test.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet)[check["alertname"]] += 1
    names = {r["alert"] for r in alerting_rules()}
    assert names, "no alerting rules found"
    assert not names - set(fired), f"alerts never tested firing: {sorted(names - set(fired))}"
    assert not names - set(quiet), f"alerts never tested quiet: {sorted(names - set(quiet))}"
    assert not (set(fired) | set(quiet)) - names, "tests of alerts that do not exist"


def github_anchors(markdown: str) -> set[str]:
    """Heading anchors as GitHub makes them: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_every_alert_has_a_severity_summary_description_and_a_runbook_that_exists() -> None:
    anchors = github_anchors(OPERATIONS_DOC.read_text())
    for rule in alerting_rules():
        name = rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name
        url = annotations.get("runbook_url", "")
        assert url == RUNBOOK_PREFIX + name.lower(), f"{name}: runbook_url {url!r}"
        assert name.lower() in anchors, f"{name}: docs/operations.md has no heading '{name}'"


def test_rules_name_jobs_not_hosts() -> None:
    """The rules serve compose and the tests alike: only the scrape configs know addresses."""
    for path in rule_files():
        text = path.read_text()
        for host in ("reports:", "points:", "rewards:", "notify:", "localhost", "127.0.0.1"):
            assert f'"{host}' not in text and f"'{host}" not in text, f"{path.name} names a host: {host}"
        assert not re.search(r"instance\s*=~?\s*\"", text), f"{path.name} matches on instance"


def test_the_runbook_base_is_an_external_label_taken_from_the_environment() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["global"]["external_labels"]["runbook_base"] == "${INCENTIVES_RUNBOOK_BASE_URL}"
    # Each rule test gives a base, so the expected links are whole URLs.
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        assert test.get("external_labels", {}).get("runbook_base", "").endswith("/"), test["name"]
