"""The idempotent producer: on for Apache Kafka (prod), off for the dev stack's Tansu, or as set."""

from __future__ import annotations

import os
from typing import ClassVar

import pytest
from incentives_kernel.kafka_security import idempotent_producer
from incentives_kernel.settings import SHARED_ENV, ServiceSettings
from pydantic_settings import SettingsConfigDict

from tests.support import production_settings


class S(ServiceSettings):
    service: ClassVar[str] = "points"
    model_config = SettingsConfigDict(env_prefix="POINTS_", extra="ignore")


@pytest.fixture(autouse=True)
def service_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for var in list(os.environ):
        if var.startswith(("POINTS_", "INCENTIVES_")) or var in SHARED_ENV.values():
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/x")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    # What production requires besides (strong tokens, keys, proof for decisions); INCENTIVES_ENV per test.
    for var, value in production_settings().items():
        monkeypatch.setenv(var, value)


@pytest.mark.parametrize(
    ("env", "setting", "expected"),
    [("prod", None, True), ("dev", None, False), ("dev", "true", True), ("prod", "false", False)],
)
def test_idempotence_follows_the_setting_else_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, setting: str | None, expected: bool
) -> None:
    monkeypatch.setenv("INCENTIVES_ENV", env)
    if setting is None:
        # production_settings() turns it off for the embedded broker; here the default is under test
        monkeypatch.delenv("KAFKA_ENABLE_IDEMPOTENCE", raising=False)
    else:
        monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", setting)
    assert idempotent_producer(S()) is expected


def test_a_service_may_override_it_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "true")
    monkeypatch.setenv("POINTS_KAFKA_ENABLE_IDEMPOTENCE", "false")
    assert idempotent_producer(S()) is False
