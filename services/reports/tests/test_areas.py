"""Areas on the map: the demo file, loading errors that name the feature, the lookup rules (checked
against a brute-force scan), the member fallback, and the bounding-box filter."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reports.areas import Areas, AreasError, BBox, Found, Placement, demo_areas_path, place
from shapely.geometry import Point, shape


def square(w: float, s: float, e: float, n: float) -> list[list[list[float]]]:
    return [[[w, s], [e, s], [e, n], [w, n], [w, s]]]


def feature(district: Any, coords: Any = None, grid_id: Any = None, kind: str = "Polygon", **props: Any) -> dict:
    properties = {"district": district, **props}
    if grid_id is not None:
        properties["grid_id"] = grid_id
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": kind, "coordinates": coords if coords is not None else square(0, 0, 1, 1)},
    }


def collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


# ------------------------------------------------------------------ the demo map


@pytest.fixture(scope="module")
def demo() -> Areas:
    return Areas.load(demo_areas_path())


def test_the_demo_map_has_the_demo_districts_and_grids(demo: Areas) -> None:
    assert demo.districts == {"nanqu", "beiqu", "xincheng"}
    assert {g for _, g in demo.grids} >= {"nq-01", "nq-02", "bq-01", "bq-02", "bq-03", "xc-01", "xc-02", "xc-03"}
    assert all(d in demo.districts for d, _ in demo.grids)


def test_every_place_the_demo_reports_fall_is_on_the_demo_map(demo: Areas) -> None:
    # ops/src/incentives_ops/demo.py: lat 31.2 + r * 0.1, lon 121.4 + r * 0.1
    rnd = random.Random(7)
    for _ in range(2_000):
        lat, lon = 31.2 + rnd.random() * 0.1, 121.4 + rnd.random() * 0.1
        found = demo.locate(lat, lon)
        assert found is not None, (lat, lon)
        assert found.grid_id is not None and (found.district, found.grid_id) in demo.grids


@pytest.mark.parametrize(
    ("lat", "lon", "district", "grid"),
    [
        (31.21, 121.42, "nanqu", "nq-01"),
        (31.24, 121.40, "nanqu", "nq-02"),
        (31.28, 121.41, "beiqu", "bq-01"),
        (31.29, 121.45, "beiqu", "bq-02"),
        (31.26, 121.50, "beiqu", "bq-03"),
        (31.20, 121.48, "xincheng", "xc-01"),
        (31.23, 121.50, "xincheng", "xc-02"),
        (31.33, 121.56, "xincheng", "xc-03"),  # the development zone: the second part of a MultiPolygon
    ],
)
def test_demo_points(demo: Areas, lat: float, lon: float, district: str, grid: str) -> None:
    assert demo.locate(lat, lon) == Found(district, grid)


@pytest.mark.parametrize(
    ("lat", "lon"), [(31.40, 121.60), (31.10, 121.45), (31.33, 121.52), (0.0, 0.0), (-31.2, -121.4)]
)
def test_outside_the_demo_map(demo: Areas, lat: float, lon: float) -> None:
    assert demo.locate(lat, lon) is None


def test_a_point_on_a_shared_border_goes_to_the_smaller_district(demo: Areas) -> None:
    # 121.45 E is the border of nanqu (0.0036 square degrees) and xincheng (0.0042, with its zone)
    assert demo.locate(31.21, 121.45) == Found("nanqu", "nq-01")
    assert demo.locate(31.25, 121.45) == Found("nanqu", "nq-02")  # where three districts meet


# ------------------------------------------------------------------ place: location or member


def test_a_location_inside_an_area_decides(demo: Areas) -> None:
    assert place(demo, (31.21, 121.42), "beiqu") == Placement("nanqu", "nq-01", "location")


def test_a_location_outside_every_area_falls_back_to_the_member(demo: Areas) -> None:
    assert place(demo, (31.40, 121.60), "beiqu") == Placement("beiqu", None, "member")


def test_no_location_falls_back_to_the_member(demo: Areas) -> None:
    assert place(demo, None, "xincheng") == Placement("xincheng", None, "member")
    assert place(demo, None, None) == Placement(None, None, "member")


def test_no_map_falls_back_to_the_member() -> None:
    assert len(Areas.none()) == 0
    assert place(Areas.none(), (31.21, 121.42), "nanqu") == Placement("nanqu", None, "member")


# ------------------------------------------------------------------ lookup rules


def test_the_smallest_containing_district_wins_then_the_first_in_the_file() -> None:
    areas = Areas.from_geojson(
        collection(
            feature("big", square(0, 0, 10, 10)),
            feature("enclave", square(2, 2, 3, 3)),
            feature("twin-a", square(5, 5, 6, 6)),
            feature("twin-b", square(5, 5, 6, 6)),
        )
    )
    assert areas.locate(2.5, 2.5) == Found("enclave", None)
    assert areas.locate(8, 8) == Found("big", None)
    assert areas.locate(5.5, 5.5) == Found("twin-a", None)


def test_the_grid_is_taken_from_the_chosen_district_only() -> None:
    areas = Areas.from_geojson(
        collection(
            feature("a", square(0, 0, 2, 2)),
            feature("b", square(1, 1, 3, 3)),
            feature("b", square(1, 1, 1.5, 1.5), grid_id="b-1"),  # overlaps a, which is smaller
            feature("a", square(0, 0, 1.2, 1.2), grid_id="a-1"),
        )
    )
    # a and b have the same size: a is first in the file; b's grid is not a's.
    assert areas.locate(1.1, 1.1) == Found("a", "a-1")
    assert areas.locate(1.4, 1.4) == Found("a", None)
    assert areas.locate(2.5, 2.5) == Found("b", None)


def test_a_map_of_grids_only_takes_the_district_from_the_grid() -> None:
    areas = Areas.from_geojson(
        collection(feature("a", square(0, 0, 1, 1), grid_id="g-1"), feature("b", square(1, 0, 2, 1), grid_id="g-2"))
    )
    assert areas.locate(0.5, 1.5) == Found("b", "g-2")
    assert areas.districts == {"a", "b"}


def test_a_hole_is_outside() -> None:
    ring = square(0, 0, 4, 4)[0]
    hole = square(1, 1, 2, 2)[0][::-1]
    areas = Areas.from_geojson(collection(feature("donut", [ring, hole])))
    assert areas.locate(1.5, 1.5) is None
    assert areas.locate(3, 3) == Found("donut", None)


def brute_force(features: list[dict], lat: float, lon: float) -> Found | None:
    """The rules of the module doc, by scanning every area (no index)."""
    point = Point(lon, lat)
    inside = [
        (shape(f["geometry"]).area, i, f["properties"]["district"], f["properties"].get("grid_id"))
        for i, f in enumerate(features)
        if shape(f["geometry"]).intersects(point)
    ]
    districts = sorted(a for a in inside if a[3] is None)
    grids = sorted(a for a in inside if a[3] is not None)
    if districts:
        district = districts[0][2]
        grids = [g for g in grids if g[2] == district]
    elif grids:
        district = grids[0][2]
    else:
        return None
    return Found(district, grids[0][3] if grids else None)


@settings(max_examples=60, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(
            st.integers(0, 8), st.integers(0, 8), st.integers(1, 4), st.integers(1, 4), st.integers(0, 3), st.booleans()
        ),
        min_size=1,
        max_size=25,
    ),
    points=st.lists(st.tuples(st.integers(-2, 26), st.integers(-2, 26)), min_size=1, max_size=30),
)
def test_the_index_agrees_with_a_brute_force_scan(boxes: list, points: list) -> None:
    features = []
    for x, y, w, h, d, is_grid in boxes:
        # grid ids are unique to a district: name them by district and position
        grid = f"d{d}-g{len(features)}" if is_grid else None
        features.append(feature(f"d{d}", square(x, y, x + w, y + h), grid_id=grid))
    areas = Areas.from_geojson(collection(*features))
    for px, py in points:
        # half steps land on borders and corners as well as inside
        lon, lat = px / 2, py / 2
        assert areas.locate(lat, lon) == brute_force(features, lat, lon), (lat, lon)


# ------------------------------------------------------------------ loading errors


def error(doc: Any) -> str:
    with pytest.raises(AreasError) as info:
        Areas.from_geojson(doc)
    return str(info.value)


@pytest.mark.parametrize("doc", [[], {"type": "Feature"}, {"features": []}, None, "x"])
def test_not_a_feature_collection(doc: Any) -> None:
    assert "FeatureCollection" in error(doc)


@pytest.mark.parametrize("features", [[], None, {}])
def test_no_features(features: Any) -> None:
    assert "no features" in error({"type": "FeatureCollection", "features": features})


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"type": "Feature", "properties": None, "geometry": None}, "feature 1: properties must be an object"),
        ([1, 2], "feature 1: not a GeoJSON Feature"),
        (feature(None), "feature 1: property 'district' must be a non-empty string"),
        (feature("  "), "property 'district' must be a non-empty string"),
        (feature(7), "property 'district' must be a non-empty string, not 7"),
        (feature("x" * 65), "property 'district' is longer than 64"),
        (feature("nanqu", grid_id=12), "feature 1 (district 'nanqu'): property 'grid_id' must be a non-empty string"),
        (feature("nanqu", grid_id=""), "property 'grid_id' must be a non-empty string"),
        (feature("nanqu", [[0, 0], [1, 1]], kind="LineString"), "must be a Polygon or MultiPolygon, not LineString"),
        (feature("nanqu", [0, 0], kind="Point"), "not Point"),
        ({"type": "Feature", "properties": {"district": "nanqu"}, "geometry": None}, "not None"),
        (feature("nanqu", []), "a polygon needs at least one ring"),
        (feature("nanqu", [], kind="MultiPolygon"), "MultiPolygon has no coordinates"),
        (feature("nanqu", [[[0, 0], [1, 0], [0, 0]]]), "at least 4 positions"),
        (feature("nanqu", [[[0, 0], [1, 0], [1, 1], [0, 1]]]), "must end where it starts"),
        (feature("nanqu", [[[0, 0], [1, 0], [1, "n"], [0, 0]]]), "must be [longitude, latitude]"),
        (feature("nanqu", [[[0, 0], [1, 0], [1, None], [0, 0]]]), "must be [longitude, latitude]"),
        (feature("nanqu", [[[31, 121], [31.1, 121], [31.1, 121.1], [31, 121]]]), "GeoJSON puts longitude first"),
        (feature("nanqu", [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]), "invalid geometry: Self-intersection"),
        (feature("nanqu", [[[0, 0], [1, 0], [2, 0], [0, 0]]]), "invalid geometry"),
        (feature("nanqu", [square(0, 0, 1, 1), []], kind="MultiPolygon"), "a polygon needs at least one ring"),
    ],
)
def test_a_bad_feature_is_named_with_what_is_wrong(bad: Any, expected: str) -> None:
    message = error(collection(feature("ok", square(0, 0, 1, 1)), bad))
    assert message.startswith("feature 1")
    assert expected in message


def test_a_grid_drawn_in_two_districts_is_refused() -> None:
    message = error(collection(feature("a", grid_id="g-1"), feature("b", square(2, 2, 3, 3), grid_id="g-1")))
    assert message == (
        "feature 1 (district 'b', grid_id 'g-1'): grid 'g-1' is already drawn in district 'a' (feature 0)"
    )


def test_a_grid_in_several_parts_of_one_district_is_fine() -> None:
    areas = Areas.from_geojson(collection(feature("a", grid_id="g-1"), feature("a", square(2, 2, 3, 3), grid_id="g-1")))
    assert areas.locate(2.5, 2.5) == Found("a", "g-1")


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(collection(feature("a"), feature("b", [[[0, 0]]]))), encoding="utf-8")
    with pytest.raises(AreasError, match=r"areas.geojson: feature 1 \(district 'b'\): a ring needs"):
        Areas.load(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(AreasError, match="not JSON"):
        Areas.load(path)
    with pytest.raises(AreasError, match="cannot read the areas file"):
        Areas.load(tmp_path / "missing.geojson")


# ------------------------------------------------------------------ bounding box


def test_bbox_parse_and_contains() -> None:
    box = BBox.parse("121.40,31.20,121.45, 31.25")
    assert box == BBox(121.40, 31.20, 121.45, 31.25)
    assert box.contains(31.20, 121.40) and box.contains(31.25, 121.45)  # borders included
    assert not box.contains(31.26, 121.42)
    assert not box.contains(31.22, 121.39)
    assert BBox.parse("-1,-2,3,4") == BBox(-1, -2, 3, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "four numbers"),
        ("1,2,3", "four numbers"),
        ("1,2,3,4,5", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("1e3,2,3,4", "four numbers"),
        ("nan,2,3,4", "four numbers"),
        ("181,0,182,1", "min_lon 181 is outside -180..180"),
        ("0,-91,1,1", "min_lat -91 is outside -90..90"),
        ("2,0,1,1", "minimum exceeds its maximum"),
        ("0,2,1,1", "minimum exceeds its maximum"),
    ],
)
def test_bbox_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BBox.parse(text)


# ------------------------------------------------------------------ the benchmark's generated map


def test_the_benchmark_map_tiles_without_gaps_and_every_point_inside_has_its_grid() -> None:
    from bench.areas import generate_map, points

    areas = Areas.from_geojson(generate_map(per_side=10, districts_per_side=2))
    assert len(areas) == 100 + 4
    for k, (lat, lon) in enumerate(points(500)):
        found = areas.locate(lat, lon)
        if k % 10 == 9:
            assert found is None
        else:
            assert found is not None and found.grid_id is not None, (lat, lon)
