"""Alertmanager as the ops tests run it: the template rendered the way the container does, amtool."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.ops.prom import binary

ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER_DIR = ROOT / "deploy" / "alertmanager"
TEMPLATE = ALERTMANAGER_DIR / "alertmanager.yml"
RENDER = ALERTMANAGER_DIR / "render.sh"

EXAMPLE_ENV = {
    "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    "ALERT_EMAIL_TO": "oncall@example.org",
    "ALERT_EMAIL_FROM": "incentives-alerts@example.org",
    "ALERT_SMTP_SMARTHOST": "smtp.example.org:587",
    "ALERT_SMTP_USERNAME": "incentives-alerts@example.org",
    "ALERT_SMTP_PASSWORD": "a p@ss/word & more",
    "ALERT_SMTP_REQUIRE_TLS": "true",
}


def render(out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """deploy/alertmanager/render.sh TEMPLATE OUT, with only `env` (and PATH) set, under POSIX sh."""
    return subprocess.run(
        ["sh", str(RENDER), str(TEMPLATE), str(out)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("amtool"), *args], capture_output=True, text=True, timeout=60)
