from __future__ import annotations

from typing import ClassVar

from incentives_kernel.events import ReportCategory
from incentives_kernel.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from .sla import Sla


class ReportsSettings(ServiceSettings):
    service: ClassVar[str] = "reports"
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    http_port: int = 8081
    sla_days: int = Field(default=7, ge=1, description="days from submission to resolution before overdue")
    sla_days_by_category: dict[ReportCategory, int] = Field(
        default_factory=dict, description='per-category SLA in days, JSON, e.g. {"fire_hazard": 2}'
    )
    overdue_sweep_interval_s: float = Field(default=60.0, gt=0)

    @property
    def sla(self) -> Sla:
        return Sla(self.sla_days, dict(self.sla_days_by_category))
