"""The earning policy: what each kind of civic work earns, loaded from a versioned file. Pure."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

from incentives_kernel.events import ReportCategory
from pydantic import BaseModel, ConfigDict, Field


class PolicyFile(BaseModel):
    """The shape of a policy file (policies/*.json); every report category must have its amount."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,40}$")
    description: str = ""
    report_points: dict[ReportCategory, int] = Field(min_length=len(ReportCategory))
    rating_points: int = Field(ge=0)
    points_per_hour: int = Field(ge=0)
    daily_cap: int = Field(gt=0)
    capped_kinds: frozenset[str]
    star_thresholds: tuple[tuple[Annotated[int, Field(ge=1, le=5)], Annotated[int, Field(ge=0)]], ...]


@dataclass(frozen=True, slots=True)
class CapDecision:
    credited: int
    cut: int


@dataclass(frozen=True, slots=True)
class Policy:
    """An earning policy and its version: `<name>@<hash of its content>`, so any change is a new version
    and each transfer names the version it was computed under."""

    rules: PolicyFile
    version: str

    def report_points(self, category: ReportCategory) -> int:
        return self.rules.report_points[category]

    def volunteer_points(self, hours: float) -> int:
        """Points per confirmed hour, counted in whole half hours (2.7 h -> 2.5 h -> 25 at 10 an hour)."""
        half_hours = math.floor(round(hours * 2, 9))
        return half_hours * self.rules.points_per_hour // 2

    def star_level(self, earned_365d: int) -> int:
        for level, threshold in sorted(self.rules.star_thresholds, reverse=True):
            if earned_365d >= threshold:
                return level
        return 0

    def apply_daily_cap(self, kind: str, requested: int, earned_today: int) -> CapDecision:
        """Report-related points (reports and ratings) are capped per member per business day."""
        if kind not in self.rules.capped_kinds:
            return CapDecision(requested, 0)
        room = max(0, self.rules.daily_cap - earned_today)
        credited = min(requested, room)
        return CapDecision(credited, requested - credited)


@cache
def load(path: Path | None = None) -> Policy:
    """The policy in `path` (default: the packaged policies/default.json), loaded once per process."""
    raw = path.read_bytes() if path else (resources.files("points") / "policies" / "default.json").read_bytes()
    rules = PolicyFile.model_validate_json(raw)
    content = rules.model_dump(mode="json")
    content["capped_kinds"] = sorted(content["capped_kinds"])  # a set: its order must not change the version
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return Policy(rules, f"{rules.name}@{hashlib.sha256(canonical.encode()).hexdigest()[:12]}")


DEFAULT = load()

# The default policy's figures by name (for callers and tests that mean the default).
RULE_VERSION = DEFAULT.version
REPORT_POINTS = DEFAULT.rules.report_points
RATING_POINTS = DEFAULT.rules.rating_points
POINTS_PER_HOUR = DEFAULT.rules.points_per_hour
DAILY_CAP = DEFAULT.rules.daily_cap
CAPPED_KINDS = DEFAULT.rules.capped_kinds
STAR_THRESHOLDS = DEFAULT.rules.star_thresholds
report_points = DEFAULT.report_points
volunteer_points = DEFAULT.volunteer_points
star_level = DEFAULT.star_level
apply_daily_cap = DEFAULT.apply_daily_cap


ALL_TIME = date(1970, 1, 1)


def period_starts(day: date) -> dict[str, date]:
    """The leaderboard periods a business day counts in."""
    return {"month": day.replace(day=1), "year": day.replace(month=1, day=1), "all": ALL_TIME}
