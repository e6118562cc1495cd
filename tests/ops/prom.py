"""Where the ops tests find Prometheus's binaries and the files under deploy/."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "incentives_test.yml"
DASHBOARDS_DIR = ROOT / "deploy" / "grafana" / "dashboards"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`; fails (never skips) when the setup did not install it."""
    found = shutil.which(name)
    assert found, (
        f"{name} is not on PATH. `make test` installs it (scripts/ensure-prometheus: Debian's package "
        f"prometheus); run that script once, or put Prometheus's {name} on PATH."
    )
    return found


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def alerting_rules() -> list[dict[str, Any]]:
    rules = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(r for r in group["rules"] if "alert" in r)
    return rules


# ------------------------------------------------------------------------------------ dashboards


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.rglob("*.json"))


def panels(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of a dashboard, those inside rows (collapsed rows nest theirs) included."""
    out = []
    for panel in node.get("panels", []):
        out.append(panel)
        out.extend(panels(panel))
    return out


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL expression) of every query of every committed dashboard."""
    out = []
    for path in dashboard_files():
        board = json.loads(path.read_text())
        for panel in panels(board):
            for target in panel.get("targets", []):
                out.append((path.name, f"{panel['title']} [{target['refId']}]", target["expr"]))
    return out


def grafana_expr(expr: str, scrape_interval_s: int) -> str:
    """The expression Grafana sends to Prometheus, for a panel on a narrow time range.

    Grafana's $__interval is the time range over the panel's data points, never below the data
    source's minimum interval (its `timeInterval`, which deploy/grafana sets to the scrape interval);
    on a narrow range it is that minimum. $__rate_interval is then max($__interval + scrape interval,
    4 x scrape interval) (Grafana docs, "Prometheus template variables"). No other variable is used.
    """
    interval = scrape_interval_s
    rate_interval = max(interval + scrape_interval_s, 4 * scrape_interval_s)
    out = expr.replace("$__rate_interval", f"{rate_interval}s").replace("$__interval", f"{interval}s")
    assert "$" not in out, f"a dashboard uses a variable the tests do not know: {expr}"
    return out


# ------------------------------------------------------------------------------------ PromQL names

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless"}


def metric_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, __name__ regexes) that a PromQL expression selects.

    A small reading of PromQL, enough for our rules and panels: string literals, label matchers,
    range brackets and the label lists of by/without/on/ignoring/group_* are dropped first; what is
    left that looks like an identifier, is not a keyword and is not called like a function, is a
    metric name.
    """
    regexes = set(re.findall(r'__name__\s*=~\s*"([^"]*)"', expr))
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", s):
        if m.group(0) in _KEYWORDS or s[m.end() :].lstrip().startswith("("):
            continue
        names.add(m.group(0))
    return names, regexes
