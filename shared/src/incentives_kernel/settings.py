"""Settings: one pydantic-settings class per service, each with its own env prefix.

Shared fields fall back to the unprefixed variables every service reads (DATABASE_URL,
KAFKA_BOOTSTRAP_SERVERS, INCENTIVES_OPERATOR_TOKENS, INCENTIVES_GATEWAY_TOKENS,
INCENTIVES_ENV), so one `.run/env` or compose env file configures them all and a prefixed variable
(POINTS_DATABASE_URL, say) overrides it for one service.

Outside dev (`INCENTIVES_ENV=prod`, the default) a service refuses to start on what would leave it
open: missing tokens or keys, a deploy/env.example placeholder (`change-me...`) in any secret, a
clear-text token under 32 characters, no replay key, or a decision provable by nobody (intake.py).
Each refusal names the variable to set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import replay
from .auth import parse_delegating, parse_operators
from .intake import policy_from_settings, proof_error, proof_problems, signing_keys_from_settings
from .member_tokens import MemberTokenKeys
from .pii import PiiHasher
from .ratelimit import Rate

# Shared field -> the unprefixed environment variable it falls back to.
SHARED_ENV = {
    "database_url": "DATABASE_URL",
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "operator_tokens": "INCENTIVES_OPERATOR_TOKENS",
    "delegating_tokens": "INCENTIVES_DELEGATING_TOKENS",
    "gateway_tokens": "INCENTIVES_GATEWAY_TOKENS",
    "provider_tokens": "INCENTIVES_PROVIDER_TOKENS",
    "env": "INCENTIVES_ENV",
    "log_level": "INCENTIVES_LOG_LEVEL",
    "debug_loggers": "INCENTIVES_DEBUG_LOGGERS",
    "timezone": "INCENTIVES_TIMEZONE",
    "member_token_keys": "INCENTIVES_MEMBER_TOKEN_KEYS",
    "member_token_ttl_s": "INCENTIVES_MEMBER_TOKEN_TTL_S",
    "rate_limit_redemptions": "INCENTIVES_RATE_LIMIT_REDEMPTIONS",
    "rate_limit_adjustments": "INCENTIVES_RATE_LIMIT_ADJUSTMENTS",
    "rate_limit_applications": "INCENTIVES_RATE_LIMIT_APPLICATIONS",
    "rate_limit_lookups": "INCENTIVES_RATE_LIMIT_LOOKUPS",
    "max_request_bytes": "INCENTIVES_MAX_REQUEST_BYTES",
    "pii_key": "INCENTIVES_PII_KEY",
    "sources_file": "INCENTIVES_SOURCES_FILE",
    "sources_extra": "INCENTIVES_SOURCES_EXTRA",
    "source_signing_keys": "INCENTIVES_SOURCE_SIGNING_KEYS",
    "exclusive_topics": "INCENTIVES_EXCLUSIVE_TOPICS",
    "signature_tolerance_s": "INCENTIVES_SIGNATURE_TOLERANCE_S",
    "event_time_skew_s": "INCENTIVES_EVENT_TIME_SKEW_S",
    "replay_key": "INCENTIVES_REPLAY_KEY",
    "kafka_security_protocol": "KAFKA_SECURITY_PROTOCOL",
    "kafka_sasl_mechanism": "KAFKA_SASL_MECHANISM",
    "kafka_sasl_username": "KAFKA_SASL_USERNAME",
    "kafka_sasl_password": "KAFKA_SASL_PASSWORD",
    "fault_exit_after_commit": "INCENTIVES_FAULT_EXIT_AFTER_COMMIT",
    "kafka_enable_idempotence": "KAFKA_ENABLE_IDEMPOTENCE",
}


# Clear-text API tokens shorter than this are refused outside dev (a digest `sha256:<hex>` hides the length).
MIN_TOKEN_LENGTH = 32
# deploy/env.example's placeholders, wherever they stand in a secret (alone, in a list, a URL, JSON).
_PLACEHOLDER = re.compile(r"(?:^|[\s,:;/@=\"'\[{])change-me", re.IGNORECASE)
# Token lists whose entries are `<id>:<token>` (the id is not secret).
_KEYED_TOKEN_FIELDS = frozenset({"provider_tokens"})
_DIGEST = re.compile(r"^sha256:[0-9a-fA-F]{64}$")


def _text(value: object) -> str:
    return (value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")).strip()


def _short_tokens(field: str, config: str) -> Iterator[int]:
    """The position (1-based) of every clear-text token in a token list that is too short."""
    for n, entry in enumerate((e.strip() for e in config.split(",") if e.strip()), start=1):
        named = field == "operator_tokens" and ":" in entry and not entry.startswith("sha256:")  # name:token
        token = entry.partition(":")[2] if field in _KEYED_TOKEN_FIELDS or named else entry
        if not _DIGEST.match(token) and len(token) < MIN_TOKEN_LENGTH:
            yield n


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `service`, `model_config` (env prefix) and port."""

    service: ClassVar[str] = "service"

    # A refusal must never print the settings it was given: they hold passwords and keys.
    model_config = SettingsConfigDict(extra="ignore", secrets_dir=None, hide_input_in_errors=True)

    env: Literal["dev", "prod"] = "prod"
    database_url: SecretStr | None = None
    db_schema: str = Field(default="", description="PostgreSQL schema; defaults to the service name")
    db_pool_min: int = Field(default=1, ge=1)
    db_pool_max: int = Field(default=6, ge=1)
    # PostgreSQL's plan cache: "auto" lets a pooled connection keep a generic plan after five runs of a
    # statement, which is built from the statistics of that moment. A table that was empty then (a new
    # database, a restore) keeps a sequential-scan plan as it grows, until an ANALYZE invalidates it
    # (autovacuum's first comes a minute or more later); points overrides this (its settings.py).
    db_plan_cache_mode: Literal["auto", "force_custom_plan", "force_generic_plan"] = "auto"
    kafka_bootstrap_servers: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Longer than clients keep an idle connection (httpx 5 s, browsers and proxies up to 60 s): a server
    # that closes first races a client reusing the connection, which then sees the request dropped
    # (uvicorn's 5 s default did so to the M4 benchmark's client under load).
    http_keep_alive_s: int = Field(default=65, ge=1, le=3600)
    operator_tokens: SecretStr = SecretStr("")
    # Operator entries (name:token) that may also say who acts (X-Acting-Operator): the console's, when
    # operators sign in to it through an identity provider and it calls the services with its own token.
    delegating_tokens: SecretStr = SecretStr("")
    gateway_tokens: SecretStr = SecretStr("")
    provider_tokens: SecretStr = Field(
        default=SecretStr(""), description="provider_id:token,... (voucher routes: the provider role)"
    )
    member_token_keys: SecretStr = Field(
        default=SecretStr(""), description="kid:secret,... (first signs); empty disables member tokens"
    )
    member_token_ttl_s: int = Field(default=900, ge=60, le=86_400, description="lifetime of a minted member token")
    # N/s, N/m or N/h, optionally :BURST, or off; per caller and member, per replica (see ratelimit.py).
    rate_limit_redemptions: str = "10/s:20"
    rate_limit_adjustments: str = "10/s:20"
    rate_limit_applications: str = "10/s:20"
    # Member lookups by phone or identity number, per caller: a hotline's pace, not an enumeration's.
    rate_limit_lookups: str = "30/m:30"
    max_request_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    log_level: str = "INFO"
    debug_loggers: str = Field(default="", description="comma-separated loggers to run at DEBUG, for diagnosis")
    timezone: str = Field(default="Asia/Shanghai", description="business days (daily caps) are counted here")

    consumer_max_records: int = Field(default=500, ge=1, le=10_000)
    consumer_batch_timeout_ms: int = Field(default=50, ge=1)
    # How long the broker may hold a fetch that found nothing (aiokafka's 500 ms). Apache Kafka answers
    # as soon as a record arrives. The embedded Tansu 0.6 sleeps after every pass of a fetch, records
    # found or not (its fetch.rs), so there a hop costs a quarter of this at p50 and half at p99 (126 and
    # 255 ms at 500). The embedded stack gives points and notify 50 ms (ops stack.py) and the others
    # this: at 50 ms for all four, an idle stack's Tansu used 25% of a core, not 5% (docs/benchmarks/context.md).
    consumer_fetch_max_wait_ms: int = Field(default=500, ge=1, le=10_000)
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1000)
    consumer_max_backoff_s: float = Field(default=30.0, gt=0)
    # arroyo's DlqLimit idea: so many unexpected failures in a row means a bug, not bad data: stall.
    consumer_max_consecutive_unexpected: int = Field(default=20, ge=1)
    graceful_timeout_s: float = Field(default=25.0, gt=0)
    park_grace_s: float = Field(default=3600.0, gt=0, description="how long an early event waits before the DLQ")
    park_sweep_interval_s: float = Field(default=30.0, gt=0)
    # The operator APIs' copy of each dead letter (kernel dead_letters): as long as the .dlq topics keep theirs.
    dead_letter_retention_days: int = Field(default=90, ge=1, le=3650)

    # Keyed digests of phone and identity numbers (pii.py): lookup without storing them.
    pii_key: SecretStr = Field(default=SecretStr(""), description=">= 32 characters; required outside dev")
    # Intake (docs/security-intake.md): who may send what, and which sources must sign.
    sources_file: str = Field(default="", description="allow-list (.toml/.json); default: the kernel's sources.toml")
    sources_extra: str = Field(default="", description="dev only: comma-separated sources admitted everywhere")
    source_signing_keys: SecretStr = Field(
        default=SecretStr(""),
        description='JSON {"<source pattern>": ["whsec_<base64>", ...]}; a listed source must sign (signing.py)',
    )
    signature_tolerance_s: int = Field(default=300, ge=1, le=86_400)
    # The deployment's word: topics its broker's ACLs let only one principal write (never the embedded broker).
    exclusive_topics: str = Field(default="", description="<topic>=<principal>,...; decisions there need no signature")
    event_time_skew_s: int = Field(
        default=300, ge=0, le=86_400, description="an event time further in the future is dead-lettered"
    )
    # Authenticates `incentives dlq replay`'s marker (replay.py); required outside dev.
    replay_key: SecretStr = Field(default=SecretStr(""), description=">= 32 characters; the operators' replay tool")
    # Kafka authentication (SASL/SCRAM against the compose Kafka); plaintext when no username is set.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # Idempotent producers (no duplicate from a producer's retry): on unless set, except in dev, whose
    # embedded Tansu rejects InitProducerId (kafka_security.idempotent_producer).
    kafka_enable_idempotence: bool | None = None
    # Runs the migrations (owns the schema) when set; the runtime role then has only the DML it needs.
    migration_database_url: SecretStr | None = None

    # TEST HOOK (tests/faults/), dev only: exit right after the n-th batch commit, before its offsets.
    fault_exit_after_commit: int = Field(default=0, ge=0)

    relay_batch_size: int = Field(default=2000, ge=1)
    relay_idle_poll_s: float = Field(default=0.05, gt=0)
    outbox_retention_hours: int = Field(default=72, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shared_fallbacks(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for field, var in SHARED_ENV.items():
                if values.get(field) in (None, "") and os.environ.get(var):
                    values[field] = os.environ[var]
        return values

    @model_validator(mode="after")
    def _complete(self) -> ServiceSettings:
        if not self.db_schema:
            self.db_schema = self.service
        missing = [
            v
            for f, v in SHARED_ENV.items()
            if f in ("database_url", "kafka_bootstrap_servers") and not _text(getattr(self, f))
        ]
        if missing:
            raise ValueError(f"missing required settings: {', '.join(missing)}")
        MemberTokenKeys.parse(self.member_token_keys.get_secret_value())  # refuse a weak key at start
        parse_operators(self.operator_tokens.get_secret_value())  # refuse a malformed `name:token` at start
        parse_delegating(self.delegating_tokens.get_secret_value())
        for rate in (
            self.rate_limit_redemptions,
            self.rate_limit_adjustments,
            self.rate_limit_applications,
            self.rate_limit_lookups,
        ):
            Rate.parse(rate)
        if self.env != "dev" and not (
            self.operator_tokens.get_secret_value() and self.gateway_tokens.get_secret_value()
        ):
            # No insecure defaults outside dev mode: an API with no tokens would be unusable or open.
            raise ValueError("INCENTIVES_OPERATOR_TOKENS and INCENTIVES_GATEWAY_TOKENS are required")
        if self.pii_key.get_secret_value():
            PiiHasher(self.pii_key.get_secret_value())  # refuse a weak key at start
        elif self.env != "dev":
            raise ValueError("INCENTIVES_PII_KEY is required: members are found by keyed digests of their numbers")
        if self.env != "dev" and self.fault_exit_after_commit:
            raise ValueError("INCENTIVES_FAULT_EXIT_AFTER_COMMIT is a test hook: only allowed with INCENTIVES_ENV=dev")
        if self.env != "dev" and self.sources_extra.strip():
            raise ValueError("INCENTIVES_SOURCES_EXTRA is for the dev stack only; list sources in a sources file")
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with SASL")
        try:
            keys = signing_keys_from_settings(self)
        except ValueError as exc:
            raise ValueError(f"INCENTIVES_SOURCE_SIGNING_KEYS: {exc}") from None
        try:
            policy = policy_from_settings(self)
        except ValueError as exc:
            raise ValueError(f"INCENTIVES_SOURCES_FILE / INCENTIVES_EXCLUSIVE_TOPICS: {exc}") from None
        replay_key = self.replay_key.get_secret_value()
        if replay_key and len(replay_key) < replay.MIN_KEY_LENGTH:
            raise ValueError(f"INCENTIVES_REPLAY_KEY must have at least {replay.MIN_KEY_LENGTH} characters")
        if self.env != "dev":
            self._refuse_placeholders_and_short_tokens()
            if not replay_key:
                raise ValueError(
                    "INCENTIVES_REPLAY_KEY is required: it authenticates dead letters replayed by operators "
                    f"(`incentives dlq replay`); at least {replay.MIN_KEY_LENGTH} random characters"
                )
            problems = proof_problems(policy, keys)
            if problems:
                raise ValueError(proof_error(problems))
        return self

    @classmethod
    def env_var(cls, field: str) -> str:
        """The environment variable that sets `field` (the unprefixed one for shared fields)."""
        return SHARED_ENV.get(field) or f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    def _refuse_placeholders_and_short_tokens(self) -> None:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, SecretStr):
                continue
            text = value.get_secret_value()
            if _PLACEHOLDER.search(text):
                raise ValueError(
                    f"{self.env_var(name)} still holds a deploy/env.example placeholder (change-me...): "
                    "replace it with a real secret"
                )
            if name.endswith("_tokens"):
                short = list(_short_tokens(name, text))
                if short:
                    raise ValueError(
                        f"{self.env_var(name)}: token {', '.join(map(str, short))} of the list is shorter than "
                        f"{MIN_TOKEN_LENGTH} characters; make tokens with e.g. "
                        '`python3 -c "import secrets; print(secrets.token_urlsafe(32))"`'
                    )

    @property
    def migration_dsn(self) -> str | None:
        """The schema owner's URL, if migrations are not run by the runtime role itself (roles.py)."""
        url = self.migration_database_url.get_secret_value() if self.migration_database_url else ""
        return url or None

    @property
    def dsn(self) -> str:
        assert self.database_url is not None
        return self.database_url.get_secret_value()

    @property
    def bootstrap(self) -> str:
        assert self.kafka_bootstrap_servers is not None
        return self.kafka_bootstrap_servers
