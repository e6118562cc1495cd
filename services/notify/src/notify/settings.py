from __future__ import annotations

from typing import ClassVar

from incentives_kernel.settings import ServiceSettings
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from .egress import EgressPolicy


class NotifySettings(ServiceSettings):
    service: ClassVar[str] = "notify"
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    http_port: int = 8084

    # Webhook delivery: retries with full-jitter exponential backoff, then a dead letter.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_base_s: float = Field(default=2.0, gt=0)
    webhook_backoff_max_s: float = Field(default=600.0, gt=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # A claimed delivery is leased: another worker may send it again only after the lease ends, so the
    # lease must outlast the HTTP timeout (checked below).
    webhook_lease_s: float = Field(default=30.0, gt=0)
    webhook_breaker_threshold: int = Field(default=5, ge=1, description="consecutive failures that open the circuit")
    webhook_breaker_cooldown_s: float = Field(default=60.0, gt=0, description="open this long, then one probe")
    webhook_poll_s: float = Field(default=1.0, gt=0)
    webhook_batch_size: int = Field(default=50, ge=1, le=1000)
    webhook_concurrency: int = Field(default=8, ge=1, le=100)
    # Webhooks go to global addresses only (egress.py); these networks (CIDRs, comma-separated) are
    # opened up for an operator's internal receivers. Production also requires https.
    webhook_allowed_networks: str = Field(default="", description="e.g. 10.20.0.0/16; empty: public addresses only")
    # Deferred pushes (quiet hours) are moved to the outbox by a sweep this often.
    push_release_poll_s: float = Field(default=5.0, gt=0)
    # TEST HOOK, never for production: the process exits right after a webhook's HTTP send and before
    # its result is recorded, so tests can show a crash there does not yield a second accepted delivery.
    test_hook_crash_after_send: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> NotifySettings:
        if self.webhook_lease_s <= self.webhook_timeout_s:
            raise ValueError("NOTIFY_WEBHOOK_LEASE_S must be longer than NOTIFY_WEBHOOK_TIMEOUT_S")
        try:
            self.egress_policy()
        except ValueError as exc:
            raise ValueError(f"NOTIFY_WEBHOOK_ALLOWED_NETWORKS: {exc}") from None
        if self.test_hook_crash_after_send and self.env != "dev":
            raise ValueError("NOTIFY_TEST_HOOK_CRASH_AFTER_SEND is a test hook: only allowed with INCENTIVES_ENV=dev")
        return self

    def egress_policy(self) -> EgressPolicy:
        """Where webhooks may go: https only outside the development run, and the allowed networks."""
        return EgressPolicy.parse(self.webhook_allowed_networks, https_only=self.env != "dev")
