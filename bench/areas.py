"""Area lookups per second: where a report is, with a map of 10,000 grids (and their 100 districts).

The map is generated: a 100 x 100 lattice of grid cells over about 50 km x 50 km around Shanghai,
their corners jittered (so no cell is a rectangle) and each inner edge bent by 2 midpoints (up to
12-vertex polygons), grouped into 100 districts of 10 x 10 cells, each also drawn as a district feature (the
union of its cells). It is loaded through `Areas.from_geojson`, as the service loads its file, then
`Areas.locate` is timed over random points (a tenth of them outside the map, to time the fallback
too). Three runs; the figure is the median, with the min and max. No I/O, one core.

    uv run python -m bench.areas [GRIDS_PER_SIDE] [LOOKUPS]    # default 100 (10,000 grids), 20,000
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from reports.areas import Areas
from shapely.geometry import Polygon, mapping

from bench.measure import machine

RESULTS = Path(__file__).parent / "results" / "areas.json"
LAT0, LON0, SPAN = 31.0, 121.2, 0.45  # degrees: about 50 km north-south


def generate_map(per_side: int = 100, districts_per_side: int = 10, seed: int = 7) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of per_side^2 grids and districts_per_side^2 districts."""
    step = SPAN / per_side
    jitter = step * 0.2

    def corner(i: int, j: int) -> tuple[float, float]:
        # Border corners stay put, so the map's outline is a rectangle; inner ones are shared by 4 cells.
        inner = 0 < i < per_side and 0 < j < per_side
        r = random.Random(seed * 1_000_003 + i * 10_007 + j)
        dx, dy = (r.uniform(-jitter, jitter), r.uniform(-jitter, jitter)) if inner else (0.0, 0.0)
        return LON0 + i * step + dx, LAT0 + j * step + dy

    features: list[dict[str, Any]] = []
    cells: dict[str, list[Polygon]] = {}
    per_district = per_side // districts_per_side
    for i in range(per_side):
        for j in range(per_side):
            corners = [corner(i, j), corner(i + 1, j), corner(i + 1, j + 1), corner(i, j + 1)]
            ring: list[tuple[float, float]] = []
            # bottom, right, top, left: an edge on the map's outline stays straight
            outline = (j == 0, i + 1 == per_side, j + 1 == per_side, i == 0)
            for k in range(4):
                a, b = corners[k], corners[(k + 1) % 4]
                ring.append(a)
                if not outline[k]:
                    ring.extend(_edge_points(a, b, jitter, seed))
            poly = Polygon(ring)
            if not poly.is_valid:  # never seen; keep the cell rather than fail the benchmark
                poly = Polygon(corners)
            district = f"d{i // per_district:02d}{j // per_district:02d}"
            cells.setdefault(district, []).append(poly)
            features.append(
                {
                    "type": "Feature",
                    "properties": {"district": district, "grid_id": f"g{i:03d}-{j:03d}"},
                    "geometry": mapping(poly),
                }
            )
    for district, polys in sorted(cells.items()):
        outline = shapely.union_all(polys)
        features.append({"type": "Feature", "properties": {"district": district}, "geometry": mapping(outline)})
    return json.loads(json.dumps({"type": "FeatureCollection", "features": features}))


def _edge_points(a: tuple[float, float], b: tuple[float, float], jitter: float, seed: int) -> list[tuple[float, float]]:
    """Two points bending the edge a-b; the same for both cells sharing it (it depends on the edge only)."""
    lo, hi = (a, b) if a <= b else (b, a)
    r = random.Random(f"{seed}:{lo[0]:.9f}:{lo[1]:.9f}:{hi[0]:.9f}:{hi[1]:.9f}")
    pts = []
    for t in (1 / 3, 2 / 3):
        x, y = lo[0] + (hi[0] - lo[0]) * t, lo[1] + (hi[1] - lo[1]) * t
        pts.append((x + r.uniform(-1, 1) * jitter * 0.15, y + r.uniform(-1, 1) * jitter * 0.15))
    return pts if (a, b) == (lo, hi) else pts[::-1]


def points(n: int, seed: int = 11) -> list[tuple[float, float]]:
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        if k % 10 == 9:  # outside the map: the fallback path
            out.append((LAT0 - 0.1 - rnd.random(), LON0 + rnd.random() * SPAN))
        else:
            out.append((LAT0 + rnd.random() * SPAN, LON0 + rnd.random() * SPAN))
    return out


# (grids per side, lookups per run) for `make bench`: 10,000 areas as issue 17 asks; smoke checks the wiring.
SIZES = {"default": (100, 20_000), "smoke": (10, 500)}
TARGET_US = 300  # "a few hundred microseconds a lookup" at 10,000 areas (issue 17)


def main(per_side: int = 100, lookups: int = 20_000, repeats: int = 3) -> dict[str, Any]:
    """Measure `Areas.locate` with a generated map of per_side^2 grids; returns (and writes) the figures.

    Result: `lookups_per_s` {median, min, max} over `repeats` runs of `lookups` points each,
    `us_per_lookup_median`, `areas` (grids + districts), `build_s` (parse, check and index the map).
    """
    doc = generate_map(per_side)
    started = time.perf_counter()
    areas = Areas.from_geojson(doc)
    build_s = time.perf_counter() - started
    pts = points(lookups)
    found = sum(areas.locate(lat, lon) is not None for lat, lon in pts[:1000])  # warm up, and a sanity figure
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for lat, lon in pts:
            areas.locate(lat, lon)
        rates.append(lookups / (time.perf_counter() - t0))
    median = statistics.median(rates)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "areas": len(areas),
        "grids": per_side * per_side,
        "lookups": lookups,
        "repeats": repeats,
        "outside_share": 0.1,
        "found_in_first_1000": found,
        "build_s": round(build_s, 2),
        "lookups_per_s": {"median": round(median), "min": round(min(rates)), "max": round(max(rates))},
        "us_per_lookup_median": round(1e6 / median, 1),
    }
    return result


def metrics(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The README table's row: lookups per second (median, min-max), met if a lookup takes <= TARGET_US."""
    from bench.report import metric

    found = raw.get("AREAS")
    if not found:
        return []
    rate = found["lookups_per_s"]
    return [
        metric(
            "AREAS",
            f"area lookups (reports placed in one of {found['areas']:,} areas, 10% outside all)",
            rate["median"],
            "lookups/s",
            target=f">= {1e6 / TARGET_US:,.0f}/s (<= {TARGET_US} us a lookup)",
            met=found["us_per_lookup_median"] <= TARGET_US,
            spread=(rate["min"], rate["max"]),
            key="AREAS.lookups_per_s",
        )
    ]


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    figures = main(*args)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
