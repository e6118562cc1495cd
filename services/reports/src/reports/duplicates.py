"""Duplicate detection rules: pure. Same category, within 50 m of an open report from the previous 24 h."""

from __future__ import annotations

import math
from datetime import timedelta

RADIUS_M = 50.0
WINDOW = timedelta(hours=24)
CELL = 1000  # cells of 0.001 degree: ~111 m north-south, ~95 m east-west at 31 degrees north

EARTH_RADIUS_M = 6_371_008.8


def cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat * CELL), math.floor(lon * CELL)


def neighbour_cells(lat: float, lon: float) -> tuple[list[int], list[int]]:
    """The cell rows and columns that can hold a point within RADIUS_M (cells are wider than 50 m)."""
    row, col = cell(lat, lon)
    return [row - 1, row, row + 1], [col - 1, col, col + 1]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))
