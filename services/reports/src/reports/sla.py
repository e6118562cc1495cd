"""Service-level agreements: when a report is due. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incentives_kernel.events import NeedCategory, ReportCategory


@dataclass(frozen=True)
class Sla:
    """Days from submission to resolution; a district may promise some categories faster."""

    default_days: int = 7
    by_category: dict[ReportCategory, int] = field(default_factory=dict)

    def due_at(self, submitted_at: datetime, category: ReportCategory) -> datetime:
        return submitted_at + timedelta(days=self.by_category.get(category, self.default_days))


@dataclass(frozen=True)
class NeedSla:
    """Days from a rider's need to its resolution; some needs (legal aid before a deadline) may be faster."""

    default_days: int = 7
    by_category: dict[NeedCategory, int] = field(default_factory=dict)

    def due_at(self, submitted_at: datetime, category: NeedCategory) -> datetime:
        return submitted_at + timedelta(days=self.by_category.get(category, self.default_days))
