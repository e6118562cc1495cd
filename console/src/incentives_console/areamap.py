"""The map of areas with cases on it, drawn on the server as SVG shapes. Pure: no I/O, no clock.

The areas come from the reports service (`GET /v1/areas`: the areas file as GeoJSON, districts and
grids); the cases are the reports or needs a list page shows. `draw` lays both out in a box of at
most `MAX_WIDTH` x `MAX_HEIGHT` pixels, and the template turns the result into inline `<svg>`: no
tile server, no script, nothing but the console's stylesheet (the CSP allows nothing else).

Projection: equirectangular with the longitude scaled by cos(latitude) at the middle of the frame.
Over a city (tens of kilometres) that keeps shapes true to within a fraction of a per cent, which is
all a map for finding where the work is needs; it is not a survey.

Frame: the areas (only the filtered district's areas when the page filters on a district that the
map has), widened to take in the listed cases that lie near them. A case further than the frame's
own size from it (a typo'd location, a report from another city) is not drawn, so one stray point
cannot shrink the city to a dot; the page says how many were left out, and how many have no location.

Size: each ring is simplified in pixel space (a vertex closer than `TOLERANCE_PX` to the last one kept
is dropped), a ring that shrinks below a triangle is not drawn, and areas wholly outside the frame are
left out, so a file of 10,000 grids costs a few points a grid rather than its whole survey.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_WIDTH = 1000
MAX_HEIGHT = 440
MARGIN = 12
TOLERANCE_PX = 1.0
MIN_SPAN_DEG = 0.005  # a frame around a single point: about 500 m
MAX_GRIDS = 2_000  # more grids than this in the frame: the districts only (see `layer`)
MAX_LAYERS = 32  # frames whose drawn areas are kept (one per district filter, and a few more)

Ring = tuple[tuple[float, float], ...]  # (lon, lat) as GeoJSON has them


@dataclass(frozen=True, slots=True)
class Area:
    """A district (grid_id None) or a grid of one, as one or more polygons of rings (outer, then holes).
    `extent` is its bounding box, worked out once when the areas are read (None: worked out when asked)."""

    district: str
    grid_id: str | None
    polygons: tuple[tuple[Ring, ...], ...]
    extent: Box | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """A report or need as the map needs it; lat/lon None when it has no location."""

    case_id: str
    href: str
    status: str
    category: str
    overdue: bool
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Box:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, lon: float, lat: float) -> bool:
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat

    def overlaps(self, other: Box) -> bool:
        return not (
            other.max_lon < self.min_lon
            or other.min_lon > self.max_lon
            or other.max_lat < self.min_lat
            or other.min_lat > self.max_lat
        )

    def union(self, other: Box) -> Box:
        return Box(
            min(self.min_lon, other.min_lon),
            min(self.min_lat, other.min_lat),
            max(self.max_lon, other.max_lon),
            max(self.max_lat, other.max_lat),
        )

    def widened(self, by_lon: float, by_lat: float) -> Box:
        return Box(self.min_lon - by_lon, self.min_lat - by_lat, self.max_lon + by_lon, self.max_lat + by_lat)


def bounds(points: Iterable[tuple[float, float]]) -> Box | None:
    """The smallest box around (lon, lat) points; None for none."""
    lons: list[float] = []
    lats: list[float] = []
    for lon, lat in points:
        lons.append(lon)
        lats.append(lat)
    if not lons:
        return None
    return Box(min(lons), min(lats), max(lons), max(lats))


def area_bounds(area: Area) -> Box | None:
    if area.extent is not None:
        return area.extent
    return bounds(p for polygon in area.polygons for p in polygon[0])  # the outer rings hold the holes


# ------------------------------------------------------------------------------- reading the areas


_NUMBER_TYPES = (int, float)  # exactly: JSON's numbers, not bool


def _ring(value: Any) -> Ring | None:
    if not isinstance(value, list) or len(value) < 4:
        return None
    ring: list[tuple[float, float]] = []
    for pos in value:
        # Cheap checks in one pass: a file of 10,000 grids has 50,000 of these (read once per cache period).
        if type(pos) is not list or len(pos) < 2:
            return None
        if type(pos[0]) not in _NUMBER_TYPES or type(pos[1]) not in _NUMBER_TYPES:
            return None
        ring.append((float(pos[0]), float(pos[1])))
    if not all(math.isfinite(lon) and math.isfinite(lat) for lon, lat in ring):
        return None
    return tuple(ring)


def _polygon(value: Any) -> tuple[Ring, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    rings = [_ring(r) for r in value]
    if any(r is None for r in rings):
        return None
    return tuple(r for r in rings if r is not None)


def read_areas(doc: Any) -> tuple[Area, ...]:
    """The areas of a GeoJSON FeatureCollection as the reports service sends it (properties `district`
    and `grid_id`; Polygon or MultiPolygon). The service checked its file at start; a feature that is
    still not drawable here is skipped, so a map with one odd shape still shows the rest."""
    features = doc.get("features") if isinstance(doc, Mapping) else None
    areas: list[Area] = []
    for feature in features if isinstance(features, list) else ():
        if not isinstance(feature, Mapping):
            continue
        props = feature.get("properties")
        geometry = feature.get("geometry")
        if not isinstance(props, Mapping) or not isinstance(geometry, Mapping):
            continue
        district, grid_id = props.get("district"), props.get("grid_id")
        if not isinstance(district, str) or not (grid_id is None or isinstance(grid_id, str)):
            continue
        coords = geometry.get("coordinates")
        kind = geometry.get("type")
        raw = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else None
        if not isinstance(raw, list) or not raw:
            continue
        polygons = [_polygon(p) for p in raw]
        if any(p is None for p in polygons):
            continue
        kept = tuple(p for p in polygons if p is not None)
        areas.append(Area(district, grid_id, kept, bounds(pos for polygon in kept for pos in polygon[0])))
    return tuple(areas)


# ------------------------------------------------------------------------------- projection


@dataclass(frozen=True, slots=True)
class Projection:
    """Equirectangular, longitudes scaled by cos(middle latitude), fitted into a pixel box."""

    box: Box
    scale: float  # pixels per degree of latitude
    k: float  # cos(middle latitude): a degree of longitude is this many degrees of latitude long
    width: int
    height: int

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        x = MARGIN + (lon - self.box.min_lon) * self.k * self.scale
        y = MARGIN + (self.box.max_lat - lat) * self.scale
        return x, y


def fit(box: Box, max_width: int = MAX_WIDTH, max_height: int = MAX_HEIGHT) -> Projection:
    """The projection that shows `box` as large as fits in max_width x max_height (margins included),
    keeping its shape: the picture is as wide and as tall as the box needs, never stretched."""
    mid = (box.min_lat + box.max_lat) / 2
    k = math.cos(math.radians(mid))
    # A frame around one point, or a line of points, still needs an extent to divide by.
    if (box.max_lon - box.min_lon) * k < MIN_SPAN_DEG:
        pad = (MIN_SPAN_DEG / k - (box.max_lon - box.min_lon)) / 2
        box = Box(box.min_lon - pad, box.min_lat, box.max_lon + pad, box.max_lat)
    if box.max_lat - box.min_lat < MIN_SPAN_DEG:
        pad = (MIN_SPAN_DEG - (box.max_lat - box.min_lat)) / 2
        box = Box(box.min_lon, box.min_lat - pad, box.max_lon, box.max_lat + pad)
    span_x = (box.max_lon - box.min_lon) * k
    span_y = box.max_lat - box.min_lat
    scale = min((max_width - 2 * MARGIN) / span_x, (max_height - 2 * MARGIN) / span_y)
    # Whole pixels, never past the limit for a rounding error's sake.
    width = min(max_width, math.ceil(span_x * scale + 2 * MARGIN - 1e-6))
    height = min(max_height, math.ceil(span_y * scale + 2 * MARGIN - 1e-6))
    return Projection(box, scale, k, width, height)


def simplify(points: Sequence[tuple[float, float]], tolerance: float = TOLERANCE_PX) -> list[tuple[float, float]]:
    """A closed ring in pixels without the vertices closer than `tolerance` to the last one kept (the
    ring's first and last vertex always stay: it stays closed). Radial-distance simplification: one
    pass, and at the map's scale the lines it straightens are shorter than a pixel."""
    if len(points) < 3:
        return list(points)
    kept = [points[0]]
    for point in points[1:-1]:
        last = kept[-1]
        if math.hypot(point[0] - last[0], point[1] - last[1]) >= tolerance:
            kept.append(point)
    end = points[-1]
    if len(kept) > 1 and math.hypot(end[0] - kept[-1][0], end[1] - kept[-1][1]) < tolerance:
        kept.pop()  # too close to the end, which is the start again
    kept.append(end)
    return kept


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def path_data(polygons: Sequence[Sequence[Ring]], projection: Projection) -> str:
    """An SVG path for polygons with holes (drawn with fill-rule evenodd); rings that come to less
    than a triangle at this scale are left out. Empty when nothing is left."""
    parts: list[str] = []
    for polygon in polygons:
        for ring in polygon:
            pixels = simplify([projection(lon, lat) for lon, lat in ring])
            if len(pixels) < 4:  # a closed triangle has four vertices, the last the first again
                continue
            head, *rest = pixels[:-1]
            parts.append(
                f"M{_number(head[0])} {_number(head[1])}"
                + "".join(f"L{_number(x)} {_number(y)}" for x, y in rest)
                + "Z"
            )
    return "".join(parts)


# ------------------------------------------------------------------------------- the map


@dataclass(frozen=True, slots=True)
class Shape:
    district: str
    grid_id: str | None
    d: str


@dataclass(frozen=True, slots=True)
class Label:
    text: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Dot:
    case_id: str
    href: str
    status: str
    category: str
    overdue: bool
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Layer:
    """The areas drawn for one frame: the same for every page with that frame (so it is kept)."""

    districts: tuple[Shape, ...]
    grids: tuple[Shape, ...]
    labels: tuple[Label, ...]
    grids_left_out: int  # more grids in the frame than MAX_GRIDS: none is drawn


@dataclass(frozen=True, slots=True)
class MapView:
    width: int
    height: int
    districts: tuple[Shape, ...]
    grids: tuple[Shape, ...]
    labels: tuple[Label, ...]
    dots: tuple[Dot, ...]
    outside: int  # located cases too far from the areas to draw
    unlocated: int  # cases without a location
    grids_left_out: int = 0

    @property
    def empty(self) -> bool:
        return not (self.districts or self.grids or self.dots)


def frame(areas: Sequence[Area], cases: Sequence[Case], district: str = "") -> Box | None:
    """What the map shows (see the module doc): the (filtered district's) areas, widened to the
    listed cases within the areas' own size of them; the cases alone when there are no areas."""
    focus = [a for a in areas if a.district == district] if district else []
    located = [(c.lon, c.lat) for c in cases if c.lon is not None and c.lat is not None]
    base = bounds(p for a in (focus or areas) for polygon in a.polygons for p in polygon[0])
    if base is None:
        return bounds(located)
    reach = base.widened(max(base.max_lon - base.min_lon, MIN_SPAN_DEG), max(base.max_lat - base.min_lat, MIN_SPAN_DEG))
    near = bounds(p for p in located if reach.contains(*p))
    return base.union(near) if near is not None else base


def layer(areas: Sequence[Area], projection: Projection) -> Layer:
    """The areas that overlap the projection's frame, as paths; the grids only when there are at most
    MAX_GRIDS of them in it (thousands of grids a few pixels wide are a hatching, not a map, and cost
    the page its speed: filtering on a district then shows that district's grids)."""
    box = projection.box
    shown = [a for a in areas if (extent := area_bounds(a)) is not None and box.overlaps(extent)]
    grid_count = sum(1 for a in shown if a.grid_id is not None)
    left_out = grid_count if grid_count > MAX_GRIDS else 0
    districts: list[Shape] = []
    grids: list[Shape] = []
    labels: list[Label] = []
    for area in shown:
        if area.grid_id is not None and left_out:
            continue
        d = path_data(area.polygons, projection)
        if not d:
            continue
        if area.grid_id is None:
            districts.append(Shape(area.district, None, d))
            labels.append(_label(area, projection))
        else:
            grids.append(Shape(area.district, area.grid_id, d))
    return Layer(tuple(districts), tuple(grids), tuple(labels), left_out)


def draw(
    areas: Sequence[Area],
    cases: Sequence[Case],
    district: str = "",
    layers: MutableMapping[Box, Layer] | None = None,
) -> MapView:
    """The map of `areas` with `cases` on it, framed for the `district` filter ('' for none).
    `layers` keeps the drawn areas by frame between calls (AreasCache.layers), at most MAX_LAYERS."""
    box = frame(areas, cases, district)
    unlocated = sum(1 for c in cases if c.lat is None or c.lon is None)
    if box is None:
        return MapView(MAX_WIDTH, MAX_HEIGHT // 4, (), (), (), (), 0, unlocated)
    projection = fit(box)
    drawn = layers.get(box) if layers is not None else None
    if drawn is None:
        drawn = layer(areas, projection)
        if layers is not None:
            if len(layers) >= MAX_LAYERS:
                del layers[next(iter(layers))]  # the oldest
            layers[box] = drawn
    dots: list[Dot] = []
    outside = 0
    for c in reversed(cases):  # the list's first rows (the newest) drawn last: on top where dots overlap
        if c.lat is None or c.lon is None:
            continue
        if not box.contains(c.lon, c.lat):
            outside += 1
            continue
        x, y = projection(c.lon, c.lat)
        dots.append(Dot(c.case_id, c.href, c.status, c.category, c.overdue, round(x, 1), round(y, 1)))
    return MapView(
        projection.width,
        projection.height,
        drawn.districts,
        drawn.grids,
        drawn.labels,
        tuple(dots),
        outside,
        unlocated,
        drawn.grids_left_out,
    )


def _label(area: Area, projection: Projection) -> Label:
    """A district's name at the middle of its largest part (an enclave's name would otherwise land
    between the parts)."""
    largest = max(area.polygons, key=lambda polygon: _extent(polygon[0]))
    extent = bounds(largest[0])
    assert extent is not None
    x, y = projection((extent.min_lon + extent.max_lon) / 2, (extent.min_lat + extent.max_lat) / 2)
    return Label(area.district, round(x, 1), round(y, 1))


def _extent(ring: Ring) -> float:
    box = bounds(ring)
    return 0.0 if box is None else (box.max_lon - box.min_lon) * (box.max_lat - box.min_lat)


@dataclass(slots=True)
class AreasCache:
    """The areas as last fetched. They change only when the reports service restarts with another
    file, so one fetch serves every page for `ttl_s`, whoever is signed in (no personal data)."""

    ttl_s: float
    areas: tuple[Area, ...] = ()
    fetched_at: float | None = None
    layers: dict[Box, Layer] = field(default_factory=dict)  # the areas drawn, by frame (see `draw`)

    def get(self, now: float) -> tuple[Area, ...] | None:
        """The areas if fetched less than `ttl_s` before `now` (a monotonic clock), else None."""
        if self.fetched_at is None or now - self.fetched_at >= self.ttl_s or now < self.fetched_at:
            return None
        return self.areas

    def keep(self, areas: tuple[Area, ...], now: float) -> None:
        self.areas, self.fetched_at = areas, now
        self.layers.clear()
