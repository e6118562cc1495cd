from __future__ import annotations

from typing import ClassVar

from incentives_kernel.events import NeedCategory, ReportCategory
from incentives_kernel.settings import ServiceSettings
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from .areas import Areas, demo_areas_path
from .sla import NeedSla, Sla


class ReportsSettings(ServiceSettings):
    service: ClassVar[str] = "reports"
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    http_port: int = 8081
    sla_days: int = Field(default=7, ge=1, description="days from submission to resolution before overdue")
    sla_days_by_category: dict[ReportCategory, int] = Field(
        default_factory=dict, description='per-category SLA in days, JSON, e.g. {"fire_hazard": 2}'
    )
    need_sla_days: int = Field(default=7, ge=1, description="days from a need's submission to its resolution")
    need_sla_days_by_category: dict[NeedCategory, int] = Field(
        default_factory=dict, description='per-category need SLA in days, JSON, e.g. {"legal_aid": 3}'
    )
    # Shared by every reader of the map (the console draws it from GET /v1/areas): one variable.
    areas_file: str | None = Field(
        default=None,
        validation_alias=AliasChoices("areas_file", "INCENTIVES_AREAS_FILE", "REPORTS_AREAS_FILE"),
        description="GeoJSON districts and grids (docs/cases.md); unset: the demo map shipped with the service",
    )
    overdue_sweep_interval_s: float = Field(default=60.0, gt=0)
    kpi_gauge_days: int = Field(
        default=30, ge=1, description="the trailing window of the per-department KPI gauges (Grafana)"
    )

    @property
    def sla(self) -> Sla:
        return Sla(self.sla_days, dict(self.sla_days_by_category))

    @property
    def need_sla(self) -> NeedSla:
        return NeedSla(self.need_sla_days, dict(self.need_sla_days_by_category))

    def load_areas(self) -> Areas:
        """The map; a bad file stops the service at start with the feature at fault named."""
        return Areas.load(self.areas_file or demo_areas_path())
