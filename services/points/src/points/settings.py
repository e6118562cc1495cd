from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from incentives_kernel.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class PointsSettings(ServiceSettings):
    service: ClassVar[str] = "points"
    model_config = SettingsConfigDict(env_prefix="POINTS_", extra="ignore")

    http_port: int = 8082
    # The batch path's `recorded` lookup (transfer_id = ANY($1)) kept a generic plan built while the
    # ledger was empty: a sequential scan, 450 ms a batch at 58,000 transfers, two thirds of
    # PostgreSQL's time in M2 (docs/benchmarks/context.md). Planning every statement cost nothing M4
    # could tell apart (three A/B pairs of its command path).
    db_plan_cache_mode: Literal["auto", "force_custom_plan", "force_generic_plan"] = "force_custom_plan"
    policy_file: Path | None = Field(default=None, description="an earning policy file; default: the contract's")
    hold_sweep_interval_s: float = Field(default=5.0, gt=0, description="how often expired holds are released")
    level_sweep_interval_s: float = Field(default=3600.0, gt=0, description="how often aged-out levels are re-checked")
