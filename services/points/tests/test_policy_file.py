"""The earning policy comes from a versioned file: a change is a new version, a bad file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from incentives_kernel.events import ReportCategory
from points import policy
from pydantic import ValidationError

DEFAULT_FILE = Path(policy.__file__).parent / "policies" / "default.json"


def write(tmp_path: Path, name: str, **changes: object) -> Path:
    content = {**json.loads(DEFAULT_FILE.read_text()), **changes}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(content))
    return path


def test_the_default_policy_is_the_contracts_and_names_its_version() -> None:
    assert policy.DEFAULT.version.startswith("default@")
    assert policy.DEFAULT.report_points(ReportCategory.FIRE_HAZARD) == 10
    assert policy.DEFAULT.rules.daily_cap == 50


def test_the_same_content_is_the_same_version_and_any_change_is_a_new_one(tmp_path: Path) -> None:
    same = policy.load(write(tmp_path, "same"))
    assert same.version == policy.DEFAULT.version
    richer = policy.load(write(tmp_path, "richer", daily_cap=60))
    assert richer.version != policy.DEFAULT.version
    assert richer.apply_daily_cap("report", 10, 55) == policy.CapDecision(credited=5, cut=5)
    reordered = policy.load(write(tmp_path, "reordered", capped_kinds=["rating", "report"]))
    assert reordered.version == policy.DEFAULT.version  # a set's order is not a change


def test_a_policy_missing_a_category_or_with_unknown_fields_is_refused(tmp_path: Path) -> None:
    amounts = json.loads(DEFAULT_FILE.read_text())["report_points"]
    del amounts["other"]
    with pytest.raises(ValidationError):
        policy.load(write(tmp_path, "missing", report_points=amounts))
    with pytest.raises(ValidationError):
        policy.load(write(tmp_path, "extra", bonus_points=5))
