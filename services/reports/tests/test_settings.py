"""The reports settings of version 2: the areas file (shared variable, demo default, a bad file refused
at start with its reason) and the need SLA; the map as GeoJSON for the console."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from incentives_kernel.events import NeedCategory
from reports.areas import AreasError, to_geojson
from reports.settings import ReportsSettings


@pytest.fixture
def dev_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCENTIVES_ENV", "dev")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@localhost/db")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    monkeypatch.delenv("INCENTIVES_AREAS_FILE", raising=False)


def test_the_demo_map_is_the_default(dev_env: None) -> None:
    areas = ReportsSettings().load_areas()
    assert areas.districts == {"nanqu", "beiqu", "xincheng"}
    doc = to_geojson(areas)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(areas)
    assert {"district": "nanqu", "grid_id": "nq-01"} in [f["properties"] for f in doc["features"]]
    assert doc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_the_shared_variable_names_the_areas_file_and_a_bad_one_is_refused(
    dev_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    good = tmp_path / "city.geojson"
    square = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]
    good.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"district": "d1"},
                        "geometry": {"type": "Polygon", "coordinates": square},
                    }
                ],
            }
        )
    )
    monkeypatch.setenv("INCENTIVES_AREAS_FILE", str(good))
    assert ReportsSettings().load_areas().districts == {"d1"}
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": []}')
    monkeypatch.setenv("INCENTIVES_AREAS_FILE", str(bad))
    with pytest.raises(AreasError, match=r"bad\.geojson: the areas file has no features"):
        ReportsSettings().load_areas()


def test_needs_have_their_own_sla(dev_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTS_NEED_SLA_DAYS", "5")
    monkeypatch.setenv("REPORTS_NEED_SLA_DAYS_BY_CATEGORY", '{"legal_aid": 2}')
    sla = ReportsSettings().need_sla
    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    assert sla.due_at(t0, NeedCategory.LEGAL_AID) == t0 + timedelta(days=2)
    assert sla.due_at(t0, NeedCategory.CHILDCARE) == t0 + timedelta(days=5)
