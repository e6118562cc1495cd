"""The embedded stack's consumer fetch wait: shortened for the latency path on Tansu only, never over an operator's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from incentives_ops.stack import EMBEDDED_FETCH_WAIT_MS, Stack, StackInfo, StackOptions

SERVICES = ("reports", "points", "rewards", "notify")


def stack(tmp_path: Path, *, embedded_broker: bool) -> Stack:
    s = Stack(StackOptions(state_dir=tmp_path, ports={n: 1 for n in SERVICES}))
    s.info = StackInfo(
        "postgresql://admin@h/db", "127.0.0.1:9092", {n: f"postgresql://{n}@h/db" for n in SERVICES}, "o", "g", {}
    )
    s.tansu = object() if embedded_broker else None  # type: ignore[assignment]
    return s


def fetch_wait(env: dict[str, Any], name: str) -> str | None:
    return env.get(f"{name.upper()}_CONSUMER_FETCH_MAX_WAIT_MS")


def test_on_tansu_the_latency_path_waits_less_and_the_rest_keeps_the_default(tmp_path: Path) -> None:
    s = stack(tmp_path, embedded_broker=True)
    assert set(EMBEDDED_FETCH_WAIT_MS) == {"points", "notify"}
    for name in SERVICES:
        expected = str(EMBEDDED_FETCH_WAIT_MS[name]) if name in EMBEDDED_FETCH_WAIT_MS else None
        assert fetch_wait(s.service_env(name), name) == expected, name


def test_a_broker_of_the_operators_keeps_the_default(tmp_path: Path) -> None:
    s = stack(tmp_path, embedded_broker=False)
    assert all(fetch_wait(s.service_env(name), name) is None for name in SERVICES)


def test_an_operators_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTS_CONSUMER_FETCH_MAX_WAIT_MS", "400")
    assert fetch_wait(stack(tmp_path, embedded_broker=True).service_env("points"), "points") == "400"
