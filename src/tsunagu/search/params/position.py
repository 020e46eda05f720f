"""special `near`: Locations within a distance of a point (`Location.position`, WGS84).

`near=35.6812|139.7671|5|km` finds the Locations whose position lies within 5 km of Tokyo
Station. The distance may be omitted (then `DEFAULT_KM`), and so may the units (`km`; also
`m` and `[mi_i]`). The specification leaves the distance calculation to the server; this one
uses the equirectangular approximation on a sphere of the Earth's mean radius: east-west
degrees are scaled by the cosine of the searched latitude, so both databases compute it with
plain arithmetic (no trigonometric functions in SQL). Within 200 km it is within 1% of the
great-circle distance up to 55° of latitude, and within 0.64% over all of Japan (20–46°N)
(`tests/unit/search/test_position.py`); at 60° it is 1.07% off. A box of
latitude and longitude around the point is searched first, on the index; it does not wrap
around the 180th meridian.
See: https://hl7.org/fhir/R4/location.html#positional
"""

from __future__ import annotations

import math
from typing import Any

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params.common import ParamSpec, invalid_value, unsupported_modifier
from tsunagu.search.params.number import as_number
from tsunagu.search.sql import Fragment

TABLE = "search_position"
COLUMNS = ("latitude", "longitude")
Row = tuple[float, float]

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180
DEFAULT_KM = 10.0  # `near` without a distance
UNITS_KM = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344}
_EXPECTED = "緯度|経度|距離|単位 / latitude|longitude|distance|units (km, m, [mi_i])"
_RANGES = "緯度 -90〜90, 経度 -180〜180 / latitude -90..90, longitude -180..180"


def rows(values: list[TypedValue]) -> list[Row]:
    """Index rows: each position that has a latitude and a longitude on the globe."""
    points = {_point(typed.value) for typed in values}
    return sorted(point for point in points if point is not None)


def _point(value: Any) -> Row | None:
    if not isinstance(value, dict):
        return None
    latitude, longitude = as_number(value.get("latitude")), as_number(value.get("longitude"))
    if latitude is None or longitude is None:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    return spec.code


def parse(spec: ParamSpec, raw: str) -> tuple[float, float, float]:
    """(latitude, longitude, distance in km) of a `near` value; 400 if it is malformed."""
    parts = raw.split("|")
    if not 2 <= len(parts) <= 4:
        raise invalid_value(spec, raw, _EXPECTED)
    latitude, longitude = _number(parts[0]), _number(parts[1])
    if latitude is None or longitude is None:
        raise invalid_value(spec, raw, _EXPECTED)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise invalid_value(spec, raw, _RANGES)
    distance = DEFAULT_KM
    if len(parts) > 2 and parts[2]:
        given = _number(parts[2])
        unit = UNITS_KM.get(parts[3] if len(parts) > 3 and parts[3] else "km")
        if given is None or given < 0 or unit is None:
            raise invalid_value(spec, raw, _EXPECTED)
        distance = given * unit
    return latitude, longitude, distance


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def distance_km(latitude: float, longitude: float, other: Row) -> float:
    """The distance this module compares, from a searched point to a stored one."""
    north = (other[0] - latitude) * KM_PER_DEGREE
    east = (other[1] - longitude) * KM_PER_DEGREE * math.cos(math.radians(latitude))
    return math.hypot(north, east)


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    if modifier is not None:
        raise unsupported_modifier(spec, modifier)
    latitude, longitude, distance = parse(spec, value)
    east_scale = KM_PER_DEGREE * math.cos(math.radians(latitude))
    d_latitude = distance / KM_PER_DEGREE
    # Near a pole a degree east is (almost) nothing: every longitude is within reach.
    d_longitude = distance / east_scale if east_scale > distance / 180 else 360.0
    a = alias
    return Fragment(
        f"{a}.latitude BETWEEN ? AND ? AND {a}.longitude BETWEEN ? AND ?"
        f" AND (({a}.latitude - ?) * ?) * (({a}.latitude - ?) * ?)"
        f" + (({a}.longitude - ?) * ?) * (({a}.longitude - ?) * ?) <= ?",
        (
            latitude - d_latitude,
            latitude + d_latitude,
            longitude - d_longitude,
            longitude + d_longitude,
            latitude,
            KM_PER_DEGREE,
            latitude,
            KM_PER_DEGREE,
            longitude,
            east_scale,
            longitude,
            east_scale,
            distance * distance,
        ),
    )
