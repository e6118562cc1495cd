"""The map on the reports and needs pages: the pure drawing (areamap.py) and the pages that use it.

In process and fast: the projection, simplification and framing on made-up and on the shipped demo
areas, and the two list pages rendered over a fake reports service. The browser test
(test_console_map.py) renders the real thing in Chromium against the running services.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx
from incentives_console import areamap
from incentives_console.areamap import Area, Box, Case
from incentives_console.pages.cases import next_url
from reports.areas import Areas, demo_areas_path, to_geojson

from tests.console.test_console_unit import _client


def rect(lon: float, lat: float, width: float, height: float) -> tuple[tuple[float, float], ...]:
    return ((lon, lat), (lon + width, lat), (lon + width, lat + height), (lon, lat + height), (lon, lat))


def square(lon: float, lat: float, size: float) -> tuple[tuple[float, float], ...]:
    return rect(lon, lat, size, size)


def case(case_id: str, lat: float | None, lon: float | None, status: str = "submitted") -> Case:
    return Case(case_id, f"/reports/{case_id}", status, "road_damage", False, lat, lon)


def demo() -> tuple[Area, ...]:
    # Through JSON, as the console gets it from GET /v1/areas.
    return areamap.read_areas(json.loads(json.dumps(to_geojson(Areas.load(demo_areas_path())))))


def test_the_demo_areas_read_as_the_service_sends_them() -> None:
    areas = demo()
    districts = {a.district: a for a in areas if a.grid_id is None}
    assert sorted(districts) == ["beiqu", "nanqu", "xincheng"]
    assert len(districts["xincheng"].polygons) == 2  # a MultiPolygon: the district and its enclave
    grids = [a for a in areas if a.grid_id is not None]
    assert grids and all(a.district in districts for a in grids)


def test_features_that_cannot_be_drawn_are_skipped_not_fatal() -> None:
    good = {
        "type": "Feature",
        "properties": {"district": "d", "grid_id": None},
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in square(0, 0, 1)]]},
    }
    bad = [
        {"type": "Feature", "properties": {"district": 3}, "geometry": good["geometry"]},
        {"type": "Feature", "properties": {"district": "p"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
        {
            "type": "Feature",
            "properties": {"district": "x"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0]]]},
        },
        {
            "type": "Feature",
            "properties": {"district": "n"},
            "geometry": {"type": "Polygon", "coordinates": [[["a", 1]] * 4]},
        },
        "not a feature",
    ]
    assert [a.district for a in areamap.read_areas({"features": [*bad, good]})] == ["d"]
    assert areamap.read_areas({"type": "FeatureCollection"}) == ()
    assert areamap.read_areas(None) == ()


def test_the_projection_keeps_shapes_north_up_and_east_right() -> None:
    # A square of ground at latitude 60: one degree of latitude is two of longitude there (cos 60 = 1/2).
    box = Box(10.0, 59.5, 12.0, 60.5)
    p = areamap.fit(box, max_width=1000, max_height=1000)
    m = areamap.MARGIN
    assert abs(p.width - p.height) <= 1  # a square stays a square
    assert p(10.0, 60.5) == (m, m)  # north-west corner top left
    x, y = p(12.0, 59.5)
    assert math.isclose(x, p.width - m, abs_tol=1) and math.isclose(y, p.height - m, abs_tol=1)
    assert p(11.0, 60.3)[1] < p(11.0, 60.0)[1]  # north is up
    assert p(11.5, 60.0)[0] > p(11.0, 60.0)[0]  # east is right

    wide = areamap.fit(Box(0.0, 0.0, 4.0, 1.0))  # at the equator: 4 wide, 1 tall, as wide as allowed
    assert wide.width == areamap.MAX_WIDTH
    assert math.isclose(wide.height - 2 * m, (wide.width - 2 * m) / 4, abs_tol=1.5)

    point = areamap.fit(Box(121.4, 31.2, 121.4, 31.2))  # one point still gets an extent, around it
    x, y = point(121.4, 31.2)
    assert math.isclose(x, point.width / 2, abs_tol=1) and math.isclose(y, point.height / 2, abs_tol=1)


def test_simplify_drops_vertices_closer_than_a_pixel_and_keeps_the_ring_closed() -> None:
    ring = [(0.0, 0.0), (0.2, 0.0), (0.4, 0.1), (10.0, 0.0), (10.0, 10.0), (10.3, 10.2), (0.0, 10.0), (0.0, 0.0)]
    assert areamap.simplify(ring) == [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]
    tiny = [(5.0, 5.0), (5.3, 5.0), (5.3, 5.3), (5.0, 5.0)]
    assert areamap.simplify(tiny) == [(5.0, 5.0), (5.0, 5.0)]


def test_path_data_draws_rings_with_holes_and_leaves_out_what_is_under_a_pixel() -> None:
    outer, hole = square(0, 0, 1), square(0.25, 0.25, 0.5)
    p = areamap.fit(Box(0, 0, 1, 1), 200, 200)
    d = areamap.path_data([(outer, hole)], p)
    assert d.count("M") == 2 and d.count("Z") == 2 and d.startswith("M12 188")
    speck = square(0.5, 0.5, 0.0001)
    assert areamap.path_data([(speck,)], p) == ""


def test_a_map_frames_the_areas_and_the_cases_near_them() -> None:
    areas = demo()
    cases = [
        case("in-beiqu", 31.28, 121.41),
        case("near", 31.36, 121.60, "resolved"),  # outside every area, but near: the frame takes it in
        case("far", 39.9, 116.4),  # another city: left out, counted
        case("nowhere", None, None),
    ]
    view = areamap.draw(areas, cases)
    assert [d.case_id for d in view.dots] == ["near", "in-beiqu"]  # the first row on top
    assert view.outside == 1 and view.unlocated == 1
    assert all(0 < d.x < view.width and 0 < d.y < view.height for d in view.dots)
    assert view.width <= areamap.MAX_WIDTH and view.height <= areamap.MAX_HEIGHT
    assert sorted(s.district for s in view.districts) == ["beiqu", "nanqu", "xincheng"]
    assert {s.grid_id for s in view.grids} == {a.grid_id for a in areas if a.grid_id}
    assert sorted(label.text for label in view.labels) == ["beiqu", "nanqu", "xincheng"]
    beiqu = next(d for d in view.dots if d.case_id == "in-beiqu")
    assert beiqu.href == "/reports/in-beiqu" and beiqu.status == "submitted"
    # Without the far case the frame is the same: a stray point does not shrink the city.
    assert areamap.draw(areas, cases[:2]).width == view.width


def test_a_district_filter_zooms_to_that_district() -> None:
    areas = demo()
    nanqu = next(a for a in areas if a.district == "nanqu" and a.grid_id is None)
    assert areamap.frame(areas, [], "nanqu") == areamap.area_bounds(nanqu)
    assert areamap.frame(areas, [], "no-such-district") == areamap.frame(areas, [])
    view = areamap.draw(areas, [], "nanqu")
    framed = areamap.fit(Box(121.39, 31.19, 121.45, 31.25))
    assert (view.width, view.height) == (framed.width, framed.height)
    # Areas that touch the frame are drawn (the picture clips them); those wholly off it are left out.
    assert {s.grid_id for s in view.grids} == {"nq-01", "nq-02", "bq-01", "bq-02", "xc-01", "xc-02"}
    # A listed case near the district widens the frame to take it in.
    near = areamap.frame(areas, [case("in-beiqu", 31.28, 121.41)], "nanqu")
    assert near is not None and near.max_lat == 31.28


def test_without_areas_the_cases_frame_themselves_and_without_either_nothing_is_drawn() -> None:
    view = areamap.draw((), [case("a", 31.2, 121.4), case("b", 31.3, 121.5)])
    assert len(view.dots) == 2 and not view.districts and not view.empty
    assert areamap.draw((), [case("c", None, None)]).empty


def test_ten_thousand_grids_are_drawn_a_district_at_a_time() -> None:
    # A city of 100 x 100 grids (the size bench/areas.py looks up in) in ten districts of 10 x 100.
    size = 0.002
    districts = tuple(
        Area(f"d{k}", None, ((rect(121.3 + k * 10 * size, 31.1, 10 * size, 100 * size),),)) for k in range(10)
    )
    grids = tuple(
        Area(f"d{i // 10}", f"g-{i}-{j}", ((square(121.3 + i * size, 31.1 + j * size, size),),))
        for i in range(100)
        for j in range(100)
    )
    city = areamap.draw(districts + grids, [])
    # The whole city: 10,000 grids of a few pixels are a hatching: the districts only, and the page says so.
    assert len(city.districts) == 10 and city.grids == () and city.grids_left_out == 10_000
    one = areamap.draw(districts + grids, [], "d3")
    # One district: its 1,000 grids and its neighbours' bordering columns, a few vertices each.
    assert len(one.grids) == 1_200 and one.grids_left_out == 0
    assert {s.district for s in one.grids} == {"d2", "d3", "d4"}
    assert all(s.d.count("L") <= 4 for s in one.grids)
    assert sum(len(s.d) for s in one.grids) < 1_200 * 60


def test_the_drawn_areas_are_kept_by_frame() -> None:
    areas = demo()
    layers: dict[Box, areamap.Layer] = {}
    first = areamap.draw(areas, [case("a", 31.28, 121.41)], "", layers)
    again = areamap.draw(areas, [case("b", 31.22, 121.42)], "", layers)  # a case inside: the same frame
    assert len(layers) == 1 and again.districts is first.districts and again.grids is first.grids
    assert [d.case_id for d in again.dots] == ["b"]
    areamap.draw(areas, [], "nanqu", layers)
    assert len(layers) == 2
    for k in range(areamap.MAX_LAYERS + 5):  # bounded: the oldest frames go
        areamap.draw(areas, [case("far", 31.36 + k / 1000, 121.60)], "", layers)
    assert len(layers) == areamap.MAX_LAYERS
    cache = areamap.AreasCache(ttl_s=300, layers=layers)
    cache.keep(areas, 0.0)  # new areas: nothing drawn from the old ones is kept
    assert cache.layers == {}


def test_the_areas_are_kept_for_their_period() -> None:
    cache = areamap.AreasCache(ttl_s=300)
    assert cache.get(1000.0) is None
    areas = demo()
    cache.keep(areas, 1000.0)
    assert cache.get(1299.0) == areas
    assert cache.get(1300.0) is None and cache.get(999.0) is None


def test_the_next_page_keeps_the_filters() -> None:
    filters = {"status": "", "district": "南区 a&b", "department": "x", "overdue": True}
    assert next_url("/needs", filters, "c/1=") == (
        "/needs?status=&district=%E5%8D%97%E5%8C%BA%20a%26b&department=x&overdue=true&cursor=c%2F1%3D"
    )
    assert next_url("/reports", {"status": "resolved", "district": "", "overdue": False}, "c") == (
        "/reports?status=resolved&district=&cursor=c"
    )
    assert next_url("/reports", filters, None) is None


# ------------------------------------------------------------------------------- the pages


def _report(report_id: str, lat: float, lon: float, status: str, overdue: bool = False) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "category": "road_damage",
        "status": status,
        "district": "beiqu",
        "grid_id": None,
        "department": None,
        "submitted_at": "2026-12-01T08:00:00+00:00",
        "due_at": "2026-12-08T08:00:00+00:00",
        "overdue": overdue,
        "sla": {"due_at": "2026-12-08T08:00:00+00:00", "overdue": overdue},
        "points_earned": 0,
        "location": {"lat": lat, "lon": lon, "address": None},
    }


def _need(need_id: str, location: tuple[float, float] | None) -> dict[str, Any]:
    return {
        "need_id": need_id,
        "category": "legal_aid",
        "status": "dispatched",
        "district": "nanqu",
        "grid_id": None,
        "held_by": None,
        "submitted_at": "2026-12-01T08:00:00+00:00",
        "due_at": "2026-12-08T08:00:00+00:00",
        "overdue": False,
        "rating": None,
        "location": {"lat": location[0], "lon": location[1], "address": None} if location else None,
    }


async def test_the_list_pages_draw_their_rows_on_the_map() -> None:
    me = {"role": "operator", "actor": "operator:li.wei", "name": "li.wei", "member_id": None}
    geojson = to_geojson(Areas.load(demo_areas_path()))
    asked: list[str] = []

    def services(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/v1/whoami":
            return httpx.Response(200, json=me)
        if request.url.path == "/v1/areas":
            return httpx.Response(200, json=geojson)
        if request.url.path == "/v1/reports":
            items = [
                _report("r-1", 31.28, 121.41, "submitted", overdue=True),
                _report("r-2", 31.22, 121.42, "resolved"),
            ]
            return httpx.Response(200, json={"items": items, "next_cursor": "n1"})
        assert request.url.path == "/v1/needs"
        return httpx.Response(
            200, json={"items": [_need("n-1", (31.21, 121.40)), _need("n-2", None)], "next_cursor": None}
        )

    client = _client()
    client._transport.app.state.console.backends.http = httpx.AsyncClient(transport=httpx.MockTransport(services))  # type: ignore[attr-defined]
    async with client as http:
        page = await http.get("/login")
        token = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[0]
        assert (await http.post("/login", data={"token": "t", "csrf_token": token})).status_code == 303

        html = (await http.get("/reports?district=beiqu")).text
        svg = re.search(r'<svg class="map" id="map".*?</svg>', html, re.S)
        assert svg, html
        assert len(re.findall(r'<path class="district"', svg.group(0))) == 3
        assert re.search(r'<a href="/reports/r-1" id="dot-r-1"><circle class="dot s-submitted overdue"', svg.group(0))
        assert re.search(r'<a href="/reports/r-2" id="dot-r-2"><circle class="dot s-resolved"', svg.group(0))
        assert "<title>beiqu · bq-01</title>" in svg.group(0)
        assert "style=" not in svg.group(0) and "<script" not in html  # the CSP allows neither
        assert 'href="/reports?status=&amp;district=beiqu&amp;cursor=n1"' in html

        html = (await http.get("/needs")).text
        assert 'href="/needs/n-1" id="dot-n-1"' in html and "dot-n-2" not in html
        assert re.search(r'id="map-note">[^<]*1 条没有位置', html), html
        assert 'id="next-page"' not in html
    assert asked.count("/v1/areas") == 1  # both pages drew from one fetch of the areas
