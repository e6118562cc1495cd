from __future__ import annotations

from typing import ClassVar

from incentives_kernel.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class RewardsSettings(ServiceSettings):
    service: ClassVar[str] = "rewards"
    model_config = SettingsConfigDict(env_prefix="REWARDS_", extra="ignore")

    http_port: int = 8083
