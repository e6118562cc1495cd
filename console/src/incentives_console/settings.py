"""The console's settings (environment variables prefixed CONSOLE_).

The service URLs fall back to the variables `incentives run` writes to `.run/env` (REPORTS_URL, ...),
and the mode and time zone to the ones every service reads (INCENTIVES_ENV, INCENTIVES_TIMEZONE), so
the console beside a running stack needs no settings of its own in development.

Outside dev mode there are no insecure defaults: the session secret must be given, long, and not a
placeholder copied from an example file.
"""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32
SERVICES = ("reports", "points", "rewards", "notify")


def _env(name: str, *fallbacks: str) -> AliasChoices:
    return AliasChoices(f"CONSOLE_{name.upper()}", *fallbacks)


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    env: Literal["dev", "prod"] = Field(default="prod", validation_alias=_env("env", "INCENTIVES_ENV"))
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8090, ge=1, le=65535)
    # Behind a TLS-terminating proxy: the addresses whose X-Forwarded-Proto/-For are believed.
    forwarded_allow_ips: str = "127.0.0.1"

    reports_url: str = Field(default="http://127.0.0.1:8081", validation_alias=_env("reports_url", "REPORTS_URL"))
    points_url: str = Field(default="http://127.0.0.1:8082", validation_alias=_env("points_url", "POINTS_URL"))
    rewards_url: str = Field(default="http://127.0.0.1:8083", validation_alias=_env("rewards_url", "REWARDS_URL"))
    notify_url: str = Field(default="http://127.0.0.1:8084", validation_alias=_env("notify_url", "NOTIFY_URL"))
    service_timeout_s: float = Field(default=5.0, gt=0, le=60)

    session_secret: SecretStr = Field(
        default=SecretStr(""), description=f">= {MIN_SECRET_LENGTH} characters; signs CSRF tokens; required outside dev"
    )
    session_idle_s: int = Field(default=30 * 60, ge=60, le=24 * 3600, description="signed out after this long idle")
    session_max_s: int = Field(default=10 * 3600, ge=300, le=7 * 24 * 3600, description="a shift, at most")
    max_sessions: int = Field(default=10_000, ge=10)
    # Lax: links into the console from the office's chat or mail open signed in; every change is a POST,
    # which a cross-site page cannot make with the cookie under Lax, and which needs a CSRF token anyway.
    cookie_samesite: Literal["lax", "strict"] = "lax"
    # auto: Secure on cookies of requests that came over https (directly or through a believed proxy).
    cookie_secure: Literal["auto", "always"] = "auto"
    # Sign-in attempts with a wrong token, per client address, before it must wait out the window.
    signin_max_failures: int = Field(default=10, ge=1)
    signin_window_s: int = Field(default=300, ge=1)
    max_form_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)

    # Sign-in through the office's OpenID Connect provider (oidc.py), beside the operator token: on when
    # the issuer is set. The console then calls the services with its own token (service_token, a named
    # operator entry the services list in INCENTIVES_DELEGATING_OPERATORS) naming who acts.
    oidc_issuer: str = Field(default="", description="the provider's issuer URL, exactly as its ID tokens say it")
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_scopes: str = "openid profile email"
    oidc_name_claim: str = Field(default="preferred_username", description="the operator's name: operator:<name>")
    oidc_operator_claim: str = Field(default="groups", description="the claim that says who is an operator")
    oidc_operator_value: str = Field(default="", description="the value of that claim an operator has")
    oidc_label: str = Field(default="", description="how the sign-in page names the provider")
    oidc_redirect_url: str = Field(default="", description="default: this console's /login/oidc/callback")
    service_token: SecretStr = Field(default=SecretStr(""), description="the console's own operator token (OIDC)")

    timezone: str = Field(default="Asia/Shanghai", validation_alias=_env("timezone", "INCENTIVES_TIMEZONE"))
    default_locale: Literal["zh-CN", "en"] = "zh-CN"
    low_stock: int = Field(default=10, ge=0, description="an instant reward at or below this is shown as running out")
    log_level: str = Field(default="INFO", validation_alias=_env("log_level", "INCENTIVES_LOG_LEVEL"))

    @field_validator("reports_url", "points_url", "rewards_url", "notify_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _no_insecure_defaults(self) -> ConsoleSettings:
        secret = self.session_secret.get_secret_value()
        if self.env != "dev":
            if not secret:
                raise ValueError("CONSOLE_SESSION_SECRET is required outside dev mode")
            if secret.lower().startswith("change-me"):
                raise ValueError("CONSOLE_SESSION_SECRET is a placeholder (change-me...): set a random one")
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"CONSOLE_SESSION_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        elif not secret:
            # Dev: one per process. Sessions live in this process's memory anyway, so none outlives it.
            self.session_secret = SecretStr(secrets.token_urlsafe(32))
        if self.oidc_issuer:
            self._check_oidc()
        return self

    def _check_oidc(self) -> None:
        secure = self.oidc_issuer.startswith("https://") or (
            self.env == "dev" and self.oidc_issuer.startswith("http://")
        )
        if not secure:
            raise ValueError("CONSOLE_OIDC_ISSUER must be an https:// URL (http:// only in dev mode)")
        missing = [
            f"CONSOLE_{name.upper()}"
            for name in ("oidc_client_id", "oidc_client_secret", "oidc_operator_value", "service_token")
            if not (value := getattr(self, name)) or (isinstance(value, SecretStr) and not value.get_secret_value())
        ]
        if missing:
            raise ValueError(f"with CONSOLE_OIDC_ISSUER set, {', '.join(missing)} must be set too")
        if self.oidc_redirect_url and not self.oidc_redirect_url.startswith(("https://", "http://")):
            raise ValueError("CONSOLE_OIDC_REDIRECT_URL must be an http:// or https:// URL")

    def service_urls(self) -> dict[str, str]:
        return {name: getattr(self, f"{name}_url") for name in SERVICES}
