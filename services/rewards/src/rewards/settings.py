from __future__ import annotations

from typing import ClassVar

from incentives_kernel.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class RewardsSettings(ServiceSettings):
    service: ClassVar[str] = "rewards"
    model_config = SettingsConfigDict(env_prefix="REWARDS_", extra="ignore")

    http_port: int = 8083
    hold_ttl_s: int = Field(
        default=900, ge=10, le=86_400, description="how long points keeps a redemption's hold before expiring it"
    )
    saga_grace_s: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="a redemption whose hold was not answered within hold_ttl_s plus this is given up (timed_out)",
    )
    saga_sweep_interval_s: float = Field(
        default=5.0, gt=0, description="how often stuck redemptions and due rounds are handled"
    )
    application_time_resolution_s: int = Field(
        default=1, ge=1, le=86_400, description="application times are compared to this resolution when ranking"
    )
    application_hold_grace_s: int = Field(
        default=86_400, ge=60, le=7 * 86_400, description="an application's hold outlives the round's close by this"
    )
    close_wait_s: int = Field(
        default=120,
        ge=0,
        le=3600,
        description="a close waits at most this long for points to answer holds still pending (then they lose)",
    )
