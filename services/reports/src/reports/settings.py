from __future__ import annotations

from typing import ClassVar

from incentives_kernel.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class ReportsSettings(ServiceSettings):
    service: ClassVar[str] = "reports"
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    http_port: int = 8081
    sla_days: int = Field(default=7, ge=1, description="days from submission to resolution before overdue")
