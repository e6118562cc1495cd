from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from incentives_kernel.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class PointsSettings(ServiceSettings):
    service: ClassVar[str] = "points"
    model_config = SettingsConfigDict(env_prefix="POINTS_", extra="ignore")

    http_port: int = 8082
    policy_file: Path | None = Field(default=None, description="an earning policy file; default: the contract's")
    hold_sweep_interval_s: float = Field(default=5.0, gt=0, description="how often expired holds are released")
    level_sweep_interval_s: float = Field(default=3600.0, gt=0, description="how often aged-out levels are re-checked")
