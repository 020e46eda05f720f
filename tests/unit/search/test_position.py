"""`near`: positions indexed, values parsed, and the SQL condition against its own distance."""

from __future__ import annotations

import math
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagu.fhir.outcomes import FhirError
from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params import position
from tsunagu.search.params.common import ParamSpec

SPEC = ParamSpec("near", "special")
TOKYO = (35.6812, 139.7671)


def _great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance, for comparison."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * position.EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def test_rows_are_positions_on_the_globe() -> None:
    values = [
        TypedValue({"latitude": 35.6812, "longitude": 139.7671, "altitude": 3}, "BackboneElement"),
        TypedValue({"latitude": 35.6812}, "BackboneElement"),  # no longitude
        TypedValue({"latitude": 91, "longitude": 0}, "BackboneElement"),
        TypedValue({"latitude": "35", "longitude": "139"}, "BackboneElement"),  # not numbers
    ]
    assert position.rows(values) == [TOKYO]


def test_values_take_defaults_and_units() -> None:
    assert position.parse(SPEC, "35.6812|139.7671") == (*TOKYO, position.DEFAULT_KM)
    assert position.parse(SPEC, "35.6812|139.7671|5") == (*TOKYO, 5.0)
    assert position.parse(SPEC, "35.6812|139.7671|500|m") == (*TOKYO, 0.5)
    assert position.parse(SPEC, "35.6812|139.7671|2|[mi_i]")[2] == pytest.approx(3.218688)


@pytest.mark.parametrize(
    "value",
    ["35.6", "abc|139", "35|139|5|furlong", "35|139|-1", "95|139|1", "35|181|1", "1|2|3|km|5"],
)
def test_malformed_values_are_a_bad_request(value: str) -> None:
    with pytest.raises(FhirError) as raised:
        position.parse(SPEC, value)
    assert raised.value.status == 400
    assert "near" in str(raised.value.outcome)


@settings(max_examples=300)
@given(
    st.floats(-55, 55),  # at 60° and 200 km it is 1.07% off (position's docstring)
    st.floats(-170, 170),
    st.floats(0, 2 * math.pi),
    st.floats(0.01, 200),
)
def test_the_distance_is_within_one_percent_of_the_great_circle(
    latitude: float, longitude: float, bearing: float, km: float
) -> None:
    north = km * math.cos(bearing) / position.KM_PER_DEGREE
    east = km * math.sin(bearing) / (position.KM_PER_DEGREE * math.cos(math.radians(latitude)))
    other = (latitude + north, longitude + east)
    assert position.distance_km(latitude, longitude, other) == pytest.approx(km, rel=1e-9)
    assert position.distance_km(latitude, longitude, other) == pytest.approx(
        _great_circle_km((latitude, longitude), other), rel=0.01
    )


@settings(max_examples=100)
@given(
    st.floats(-80, 80),
    st.floats(-170, 170),
    st.floats(0.1, 300),
    st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=30),
)
def test_the_sql_condition_selects_the_points_within_the_distance(
    latitude: float, longitude: float, km: float, offsets: list[tuple[float, float]]
) -> None:
    points = [(latitude + a, longitude + b) for a, b in offsets]
    points = [p for p in points if -90 <= p[0] <= 90]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE p (n INTEGER, latitude REAL, longitude REAL)")
    conn.executemany("INSERT INTO p VALUES (?, ?, ?)", [(n, *pt) for n, pt in enumerate(points)])
    fragment = position.condition("p", f"{latitude}|{longitude}|{km}", None, SPEC)
    found = {n for (n,) in conn.execute(f"SELECT n FROM p WHERE {fragment.sql}", fragment.params)}
    expected = {
        n
        for n, pt in enumerate(points)
        if position.distance_km(latitude, longitude, pt) <= km * (1 - 1e-9)
    }
    borderline = {
        n
        for n, pt in enumerate(points)
        if abs(position.distance_km(latitude, longitude, pt) - km) <= km * 1e-9
    }
    assert expected <= found <= expected | borderline
