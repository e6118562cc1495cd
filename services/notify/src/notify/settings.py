from __future__ import annotations

from typing import ClassVar

from incentives_kernel.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class NotifySettings(ServiceSettings):
    service: ClassVar[str] = "notify"
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    http_port: int = 8084
