"""Duplicate geometry: distances and the cells searched."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from reports import duplicates

METRE_OF_LATITUDE = 1 / 111_195  # degrees


def test_distance_of_fifty_and_sixty_metres_north() -> None:
    assert abs(duplicates.distance_m(31.23, 121.47, 31.23 + 50 * METRE_OF_LATITUDE, 121.47) - 50) < 0.1
    assert abs(duplicates.distance_m(31.23, 121.47, 31.23 + 60 * METRE_OF_LATITUDE, 121.47) - 60) < 0.1


@given(lat=st.floats(-60, 60), lon=st.floats(-179, 179), bearing=st.floats(0, 6.283), metres=st.floats(0, 50))
def test_every_point_within_fifty_metres_lies_in_a_searched_cell(
    lat: float, lon: float, bearing: float, metres: float
) -> None:
    import math

    dlat = metres * math.cos(bearing) / 111_195
    dlon = metres * math.sin(bearing) / (111_195 * math.cos(math.radians(lat)))
    rows, cols = duplicates.neighbour_cells(lat, lon)
    row, col = duplicates.cell(lat + dlat, lon + dlon)
    assert row in rows and col in cols
