"""Service settings: unprefixed shared variables, prefixed overrides, and no insecure defaults."""

from __future__ import annotations

from typing import ClassVar

import pytest
from incentives_kernel.settings import SHARED_ENV, ServiceSettings
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict


class S(ServiceSettings):
    service: ClassVar[str] = "points"
    model_config = SettingsConfigDict(env_prefix="POINTS_", extra="ignore")


DB = "postgresql://incentives:pw@db:5432/incentives"
KAFKA = "kafka-1:9092,kafka-2:9092"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for var in list(os.environ):
        if var.startswith(("POINTS_", "INCENTIVES_")) or var in SHARED_ENV.values():
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


@pytest.fixture
def base_env(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", DB)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    monkeypatch.setenv("INCENTIVES_OPERATOR_TOKENS", "op-1,op-2")
    monkeypatch.setenv("INCENTIVES_GATEWAY_TOKENS", "gw-1")
    monkeypatch.setenv("INCENTIVES_PII_KEY", "p" * 32)


def test_unprefixed_shared_variables_are_used(base_env) -> None:
    s = S()
    assert s.dsn == DB
    assert s.bootstrap == KAFKA
    assert s.operator_tokens.get_secret_value() == "op-1,op-2"
    assert s.gateway_tokens.get_secret_value() == "gw-1"
    assert s.env == "prod"


def test_prefixed_variable_wins(base_env, monkeypatch) -> None:
    monkeypatch.setenv("POINTS_DATABASE_URL", "postgresql://points@db/points")
    monkeypatch.setenv("POINTS_KAFKA_BOOTSTRAP_SERVERS", "kafka-points:9092")
    monkeypatch.setenv("POINTS_GATEWAY_TOKENS", "gw-points")
    s = S()
    assert s.dsn == "postgresql://points@db/points"
    assert s.bootstrap == "kafka-points:9092"
    assert s.gateway_tokens.get_secret_value() == "gw-points"
    assert s.operator_tokens.get_secret_value() == "op-1,op-2"


def test_prefixed_variables_alone_suffice(monkeypatch) -> None:
    monkeypatch.setenv("POINTS_DATABASE_URL", DB)
    monkeypatch.setenv("POINTS_KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    monkeypatch.setenv("POINTS_ENV", "dev")
    s = S()
    assert (s.dsn, s.bootstrap, s.env) == (DB, KAFKA, "dev")


def test_other_services_prefix_is_ignored(base_env, monkeypatch) -> None:
    monkeypatch.setenv("REWARDS_DATABASE_URL", "postgresql://rewards@db/rewards")
    assert S().dsn == DB


def test_shared_env_and_log_level_fallbacks(base_env, monkeypatch) -> None:
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    monkeypatch.setenv("INCENTIVES_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("INCENTIVES_TIMEZONE", "UTC")
    s = S()
    assert (s.env, s.log_level, s.timezone) == ("dev", "DEBUG", "UTC")


def test_missing_database_url_raises(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        S()


def test_missing_kafka_raises(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", DB)
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    with pytest.raises(ValidationError, match="KAFKA_BOOTSTRAP_SERVERS"):
        S()


@pytest.mark.parametrize("var", ["POINTS_DATABASE_URL", "DATABASE_URL"])
def test_empty_database_url_counts_as_missing(monkeypatch, var) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    monkeypatch.setenv(var, "")
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        S()


def test_empty_prefixed_variable_falls_back_to_shared(base_env, monkeypatch) -> None:
    monkeypatch.setenv("POINTS_KAFKA_BOOTSTRAP_SERVERS", "")
    assert S().bootstrap == KAFKA


@pytest.mark.parametrize("missing", ["INCENTIVES_OPERATOR_TOKENS", "INCENTIVES_GATEWAY_TOKENS"])
def test_prod_without_tokens_raises(base_env, monkeypatch, missing) -> None:
    monkeypatch.delenv(missing)
    with pytest.raises(ValidationError, match="TOKENS"):
        S()


def test_prod_without_a_pii_key_or_with_a_weak_one_raises(base_env, monkeypatch) -> None:
    monkeypatch.delenv("INCENTIVES_PII_KEY")
    with pytest.raises(ValidationError, match="INCENTIVES_PII_KEY is required"):
        S()
    monkeypatch.setenv("INCENTIVES_PII_KEY", "short")
    with pytest.raises(ValidationError, match="at least 32"):
        S()


def test_prod_is_the_default_env(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", DB)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    with pytest.raises(ValidationError, match="TOKENS"):
        S()


def test_dev_without_tokens_is_fine(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", DB)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    s = S()
    assert s.env == "dev"
    assert s.operator_tokens.get_secret_value() == ""


def test_unknown_env_value_rejected(base_env, monkeypatch) -> None:
    monkeypatch.setenv("INCENTIVES_ENV", "staging")
    with pytest.raises(ValidationError):
        S()


def test_defaults_derive_from_service_name(base_env) -> None:
    s = S()
    assert s.db_schema == "points"
    assert s.http_host == "127.0.0.1"


def test_db_schema_can_be_set(base_env, monkeypatch) -> None:
    monkeypatch.setenv("POINTS_DB_SCHEMA", "points_v2")
    s = S()
    assert s.db_schema == "points_v2"


def test_secrets_are_not_in_repr(base_env) -> None:
    text = repr(S())
    assert "pw@db" not in text
    assert "op-1" not in text


def test_numeric_limits_are_validated(base_env, monkeypatch) -> None:
    monkeypatch.setenv("POINTS_CONSUMER_MAX_RECORDS", "0")
    with pytest.raises(ValidationError):
        S()


def test_init_arguments_beat_environment(base_env) -> None:
    assert S(database_url="postgresql://explicit/db").dsn == "postgresql://explicit/db"
