"""Where a report or need is: districts and grids as areas on the map, from a GeoJSON file. Pure.

The file (`INCENTIVES_AREAS_FILE`) is a FeatureCollection of Polygon or MultiPolygon features with
properties `district` (1..64 characters) and optional `grid_id` (1..64): a feature without `grid_id`
draws a district, one with it draws a grid of that district. Coordinates are GeoJSON's
[longitude, latitude] in WGS 84. Loading checks everything and names the feature at fault
(`feature 3 (district 'nanqu', grid 'nq-01')`); a bad file is refused whole, never half-loaded.

Lookup (`Areas.locate`), with an STRtree over every area so that 10,000 areas cost a few
microseconds a point (bench/areas.py measures it):
1. the district: among the district areas that contain the point (borders included), the smallest,
   then the first in the file. Overlaps are a drawing error, but a city map has enclaves; the
   smallest area is the more specific one, and the file order makes the choice deterministic.
2. the grid: among the grid areas of that district that contain the point, the same rule.
3. a point in no district area but in a grid area takes the grid's district (a file may draw only
   grids). A grid of another district than the chosen one is never used.
Outside every area: None, and the caller falls back to the member's district (`place`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.strtree import STRtree

MAX_NAME = 64
DEMO_AREAS = "demo-areas.geojson"

DistrictSource = Literal["location", "member"]


class AreasError(ValueError):
    """The areas file cannot be used; the message names the feature and what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Area:
    district: str
    grid_id: str | None
    geometry: Polygon | MultiPolygon
    position: int  # in the file: the last tie-break
    size: float  # in square degrees: only compared with other areas


@dataclass(frozen=True, slots=True)
class Found:
    district: str
    grid_id: str | None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a case counts: `district_source` says whether its location decided, or its member's district."""

    district: str | None
    grid_id: str | None
    district_source: DistrictSource


def _label(position: int, props: Mapping[str, Any] | None) -> str:
    props = props if isinstance(props, Mapping) else {}
    parts = [f"feature {position}"]
    named = [f"{k} {props[k]!r}" for k in ("district", "grid_id") if isinstance(props.get(k), str)]
    return parts[0] + (f" ({', '.join(named)})" if named else "")


def _name(value: Any, field: str, where: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AreasError(f"{where}: property {field!r} must be a non-empty string, not {value!r}")
    if len(value) > MAX_NAME:
        raise AreasError(f"{where}: property {field!r} is longer than {MAX_NAME} characters")
    return value.strip()


def _check_coordinates(geometry: Mapping[str, Any], where: str) -> None:
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    polygons = [coords] if kind == "Polygon" else coords
    if not isinstance(polygons, list) or not polygons:
        raise AreasError(f"{where}: {kind} has no coordinates")
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise AreasError(f"{where}: a polygon needs at least one ring")
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4:
                raise AreasError(f"{where}: a ring needs at least 4 positions (closed), got {ring!r:.80}")
            for pos in ring:
                if (
                    not isinstance(pos, list)
                    or len(pos) < 2
                    or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in pos[:2])
                ):
                    raise AreasError(f"{where}: a position must be [longitude, latitude], not {pos!r:.80}")
                lon, lat = pos[0], pos[1]
                if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
                    raise AreasError(
                        f"{where}: position {pos!r:.80} is outside longitude -180..180 / latitude -90..90 "
                        "(GeoJSON puts longitude first)"
                    )
            if ring[0][:2] != ring[-1][:2]:
                raise AreasError(f"{where}: a ring must end where it starts")


def _area(position: int, feature: Any) -> Area:
    where = f"feature {position}"
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise AreasError(f"{where}: not a GeoJSON Feature")
    props = feature.get("properties")
    where = _label(position, props)
    if not isinstance(props, Mapping):
        raise AreasError(f"{where}: properties must be an object with 'district'")
    district = _name(props.get("district"), "district", where, required=True)
    assert district is not None
    grid_id = _name(props.get("grid_id"), "grid_id", where, required=False)
    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, Mapping) else geometry
        raise AreasError(f"{where}: geometry must be a Polygon or MultiPolygon, not {kind}")
    _check_coordinates(geometry, where)
    geom = shape(dict(geometry))
    assert isinstance(geom, Polygon | MultiPolygon)
    if not geom.is_valid:
        raise AreasError(f"{where}: invalid geometry: {shapely.is_valid_reason(geom)}")
    if geom.area <= 0:
        raise AreasError(f"{where}: the area is empty")
    return Area(district, grid_id, geom, position, geom.area)


class Areas:
    """The districts and grids of a map, with a spatial index. Immutable once built."""

    def __init__(self, areas: Sequence[Area]) -> None:
        self._areas = tuple(areas)
        self._tree = STRtree([a.geometry for a in self._areas])
        self.districts = frozenset(a.district for a in self._areas)
        self.grids = frozenset((a.district, a.grid_id) for a in self._areas if a.grid_id is not None)

    def __len__(self) -> int:
        return len(self._areas)

    def all(self) -> tuple[Area, ...]:
        return self._areas

    @classmethod
    def from_geojson(cls, doc: Any) -> Areas:
        """Areas from a parsed GeoJSON FeatureCollection; raises `AreasError` naming what is wrong."""
        if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
            raise AreasError("the areas file must be a GeoJSON FeatureCollection")
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise AreasError("the areas file has no features")
        areas = [_area(i, f) for i, f in enumerate(features)]
        grid_district: dict[str, Area] = {}
        for a in areas:
            if a.grid_id is None:
                continue
            first = grid_district.setdefault(a.grid_id, a)
            if first.district != a.district:
                raise AreasError(
                    f"{_label(a.position, {'district': a.district, 'grid_id': a.grid_id})}: grid {a.grid_id!r} "
                    f"is already drawn in district {first.district!r} (feature {first.position})"
                )
        return cls(areas)

    @classmethod
    def load(cls, path: str | Path) -> Areas:
        """Areas from a GeoJSON file; raises `AreasError` (with the path) when it cannot be used."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise AreasError(f"cannot read the areas file {path}: {exc.strerror or exc}") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AreasError(f"{path}: not JSON: {exc}") from None
        try:
            return cls.from_geojson(doc)
        except AreasError as exc:
            raise AreasError(f"{path}: {exc}") from None

    @classmethod
    def none(cls) -> Areas:
        """No map: every case falls back to its member's district."""
        return cls(())

    def locate(self, lat: float, lon: float) -> Found | None:
        """The district and grid at a point, or None outside every area (rules in the module doc)."""
        if not self._areas:
            return None
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        found = [self._areas[i] for i in hits.tolist()]
        districts = [a for a in found if a.grid_id is None]
        if districts:
            district = _first(districts).district
            grids = [a for a in found if a.grid_id is not None and a.district == district]
        else:
            grids = [a for a in found if a.grid_id is not None]
            district = _first(grids).district
        return Found(district, _first(grids).grid_id if grids else None)


def _first(areas: list[Area]) -> Area:
    return min(areas, key=lambda a: (a.size, a.position))


def place(areas: Areas, location: tuple[float, float] | None, member_district: str | None) -> Placement:
    """Where a case counts: its location's district and grid; a case with no location, or one outside
    every area, counts for its member's district (None when the member is not known yet)."""
    found = areas.locate(*location) if location is not None else None
    if found is None:
        return Placement(member_district, None, "member")
    return Placement(found.district, found.grid_id, "location")


def demo_areas_path() -> Path:
    """The demo map shipped with the package (districts nanqu, beiqu, xincheng and their grids)."""
    return Path(str(resources.files("reports") / "data" / DEMO_AREAS))


# ------------------------------------------------------------------------------- bounding-box filter

_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_BBOX = re.compile(",".join([_NUMBER] * 4))


@dataclass(frozen=True, slots=True)
class BBox:
    """A filter box, `min_lon,min_lat,max_lon,max_lat` (GeoJSON's order). Boxes across the
    antimeridian are refused: nothing this system serves lies there.

    In SQL (the reports migration indexes `point(lon, lat)` with GiST):
    `point(lon, lat) <@ box(point($min_lon, $min_lat), point($max_lon, $max_lat))` (borders included).
    """

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> BBox:
        """Parse a query parameter; raises ValueError with a message fit for a 422."""
        m = _BBOX.fullmatch(text)
        if m is None:
            raise ValueError("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat")
        min_lon, min_lat, max_lon, max_lat = (float(g) for g in m.groups())
        for name, v, limit in (
            ("min_lon", min_lon, 180),
            ("max_lon", max_lon, 180),
            ("min_lat", min_lat, 90),
            ("max_lat", max_lat, 90),
        ):
            if not -limit <= v <= limit:
                raise ValueError(f"bbox {name} {v:g} is outside -{limit}..{limit}")
        if min_lon > max_lon or min_lat > max_lat:
            raise ValueError("bbox minimum exceeds its maximum (min_lon,min_lat,max_lon,max_lat)")
        return cls(min_lon, min_lat, max_lon, max_lat)

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


def to_geojson(areas: Areas) -> dict[str, Any]:
    """The map as a GeoJSON FeatureCollection (districts and grids, in file order): for the console."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"district": a.district, "grid_id": a.grid_id},
                "geometry": shapely.geometry.mapping(a.geometry),
            }
            for a in areas.all()
        ],
    }
