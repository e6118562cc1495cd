"""Service settings: unprefixed shared variables, prefixed overrides, and no insecure defaults."""

from __future__ import annotations

import base64
import json
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
OP1, OP2, GW = "op-1-" + "a" * 32, "op-2-" + "b" * 32, "gw-1-" + "c" * 32
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
# A production deployment's word on who proves what: topics its broker ACLs give to one principal,
# and a signature required of every source that shares a topic with others.
EXCLUSIVE = (
    "incentives.volunteer.v1=volunteer-platform,incentives.redemptions.v1=rider-app-gateway,"
    "incentives.reports.lifecycle.v1=reports,incentives.points.commands.v1=rewards,"
    "incentives.points.replies.v1=points,incentives.points.v1=points,incentives.rewards.v1=rewards,"
    "incentives.notifications.v1=notify"
)
SIGNERS = [
    "/member-registry",
    "/member-registry/**",
    "/rider-app-gateway",
    "/district/*/rider-app",
    "/dispatch",
    "/dispatch/**",
    "/district/*/dispatch",
    "/district/*/department/*",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for var in list(os.environ):
        if var.startswith(("POINTS_", "INCENTIVES_")) or var in SHARED_ENV.values():
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


@pytest.fixture
def base_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", DB)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    monkeypatch.setenv("INCENTIVES_OPERATOR_TOKENS", f"{OP1},{OP2}")
    monkeypatch.setenv("INCENTIVES_GATEWAY_TOKENS", GW)
    monkeypatch.setenv("INCENTIVES_PII_KEY", "p" * 32)
    monkeypatch.setenv("INCENTIVES_REPLAY_KEY", "r" * 32)
    monkeypatch.setenv("INCENTIVES_EXCLUSIVE_TOPICS", EXCLUSIVE)
    monkeypatch.setenv("INCENTIVES_SOURCE_SIGNING_KEYS", json.dumps({p: [SECRET] for p in SIGNERS}))


def test_unprefixed_shared_variables_are_used(base_env) -> None:
    s = S()
    assert s.dsn == DB
    assert s.bootstrap == KAFKA
    assert s.operator_tokens.get_secret_value() == f"{OP1},{OP2}"
    assert s.gateway_tokens.get_secret_value() == GW
    assert s.env == "prod"


def test_delegating_tokens_must_be_named(base_env, monkeypatch) -> None:
    monkeypatch.setenv("INCENTIVES_DELEGATING_TOKENS", f"console:{OP1}")
    assert S().delegating_tokens.get_secret_value() == f"console:{OP1}"
    monkeypatch.setenv("INCENTIVES_DELEGATING_TOKENS", OP1)
    with pytest.raises(ValidationError, match="INCENTIVES_DELEGATING_TOKENS entry 1: name it"):
        S()


def test_prefixed_variable_wins(base_env, monkeypatch) -> None:
    monkeypatch.setenv("POINTS_DATABASE_URL", "postgresql://points@db/points")
    monkeypatch.setenv("POINTS_KAFKA_BOOTSTRAP_SERVERS", "kafka-points:9092")
    monkeypatch.setenv("POINTS_GATEWAY_TOKENS", "gw-points-" + "p" * 32)
    s = S()
    assert s.dsn == "postgresql://points@db/points"
    assert s.bootstrap == "kafka-points:9092"
    assert s.gateway_tokens.get_secret_value() == "gw-points-" + "p" * 32
    assert s.operator_tokens.get_secret_value() == f"{OP1},{OP2}"


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
    assert "whsec_" not in text and "r" * 32 not in text


# ---------------------------------------------------------------- production refuses what leaves it open


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("INCENTIVES_OPERATOR_TOKENS", "change-me-operator-token"),
        ("INCENTIVES_GATEWAY_TOKENS", f"{GW},change-me-gateway-token"),
        ("INCENTIVES_PII_KEY", "change-me-pii-key-at-least-32-characters-long"),
        ("INCENTIVES_REPLAY_KEY", "change-me-replay-key-at-least-32-characters"),
        ("INCENTIVES_MEMBER_TOKEN_KEYS", "k1:change-me-member-token-key-32-characters"),
        ("DATABASE_URL", "postgresql://points_app:change-me-points-app-db@postgres:5432/incentives"),
        ("POINTS_MIGRATION_DATABASE_URL", "postgresql://points:change-me-points-db@postgres:5432/incentives"),
        ("KAFKA_SASL_PASSWORD", "change-me-kafka-points"),
        ("INCENTIVES_SOURCE_SIGNING_KEYS", '{"/dispatch": ["change-me-dispatch-signing-key"]}'),
    ],
)
def test_prod_refuses_every_env_example_placeholder_naming_the_variable(base_env, monkeypatch, var, value) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as err:
        S()
    assert var in str(err.value)
    assert value not in str(err.value), "the refusal must not print the secret"


def test_dev_accepts_placeholders_and_short_tokens(base_env, monkeypatch) -> None:
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    monkeypatch.setenv("INCENTIVES_OPERATOR_TOKENS", "change-me-operator-token")
    monkeypatch.setenv("INCENTIVES_GATEWAY_TOKENS", "gw")
    monkeypatch.delenv("INCENTIVES_REPLAY_KEY")
    monkeypatch.delenv("INCENTIVES_SOURCE_SIGNING_KEYS")
    assert S().env == "dev"


@pytest.mark.parametrize("var", ["INCENTIVES_OPERATOR_TOKENS", "INCENTIVES_GATEWAY_TOKENS"])
def test_prod_refuses_a_clear_text_token_under_32_characters(base_env, monkeypatch, var) -> None:
    monkeypatch.setenv(var, f"{'t' * 32},{'t' * 31}")
    with pytest.raises(ValidationError, match=rf"{var}: token 2 of the list is shorter than 32"):
        S()
    # A digest hides the length; production should hold digests anyway.
    monkeypatch.setenv(var, f"{'t' * 32},sha256:{'ab' * 32}")
    S()


def test_prod_requires_a_replay_key_and_every_env_refuses_a_short_one(base_env, monkeypatch) -> None:
    monkeypatch.delenv("INCENTIVES_REPLAY_KEY")
    with pytest.raises(ValidationError, match="INCENTIVES_REPLAY_KEY is required"):
        S()
    monkeypatch.setenv("INCENTIVES_REPLAY_KEY", "short")
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    with pytest.raises(ValidationError, match="INCENTIVES_REPLAY_KEY must have at least 32"):
        S()


def test_prod_refuses_to_start_when_a_decision_is_provable_by_nobody(base_env, monkeypatch) -> None:
    keys = {p: [SECRET] for p in SIGNERS if "dispatch" not in p and "department" not in p}
    monkeypatch.setenv("INCENTIVES_SOURCE_SIGNING_KEYS", json.dumps(keys))
    with pytest.raises(ValidationError) as err:
        S()
    text = str(err.value)
    assert "report.status_changed on incentives.reports.v1 from '/dispatch'" in text
    assert "INCENTIVES_SOURCE_SIGNING_KEYS" in text and "INCENTIVES_EXCLUSIVE_TOPICS" in text
    assert "member." not in text, "the members topic is proven by the registry's and gateway's signatures"
    monkeypatch.delenv("INCENTIVES_EXCLUSIVE_TOPICS")
    with pytest.raises(ValidationError, match="volunteer"):
        S()


def test_signing_keys_are_parsed_at_start_in_every_env(base_env, monkeypatch) -> None:
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    monkeypatch.setenv("INCENTIVES_SOURCE_SIGNING_KEYS", '{"/dispatch": ["plain-text-key-of-old-times"]}')
    with pytest.raises(ValidationError, match="INCENTIVES_SOURCE_SIGNING_KEYS: signing keys for '/dispatch'"):
        S()


def test_an_exclusive_topic_the_policy_does_not_know_is_refused(base_env, monkeypatch) -> None:
    monkeypatch.setenv("INCENTIVES_EXCLUSIVE_TOPICS", EXCLUSIVE + ",incentives.typo.v1=someone")
    with pytest.raises(ValidationError, match=r"INCENTIVES_EXCLUSIVE_TOPICS: .*incentives\.typo\.v1"):
        S()


def test_the_event_time_skew_is_a_setting(base_env, monkeypatch) -> None:
    assert S().event_time_skew_s == 300
    monkeypatch.setenv("INCENTIVES_EVENT_TIME_SKEW_S", "60")
    assert S().event_time_skew_s == 60


def test_numeric_limits_are_validated(base_env, monkeypatch) -> None:
    monkeypatch.setenv("POINTS_CONSUMER_MAX_RECORDS", "0")
    with pytest.raises(ValidationError):
        S()


def test_init_arguments_beat_environment(base_env) -> None:
    assert S(database_url="postgresql://explicit/db").dsn == "postgresql://explicit/db"
