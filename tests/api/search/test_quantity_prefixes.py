"""Quantity search against an oracle: prefixes, the precision of the search value, units.

Observations hold quantities, and RiskAssessments probabilities (decimals and Ranges, the
number parameter `probability`), near the edges of the ranges that searches of
different precision imply: `100` is [99.5, 100.5), `100.0` is [99.95, 100.05), `1e2` is
[50, 150) (one significant figure). The oracle computes those ranges with `Decimal` from the
value as written and compares as R4 says: `eq` wants the stored value (a Range: all of it)
inside the range, `ne` not; `gt`/`lt`/`ge`/`le` compare with the value itself; `sa`/`eb` want
all of the stored value after/before it. `|system|code` wants both; `||code` the code or the
unit as written. Both backends, over HTTP.
See: https://hl7.org/fhir/R4/search.html#number and #quantity
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import loaded_client

UCUM = "http://unitsofmeasure.org"
UNITS = [
    {"unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
    {"unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
    {"unit": "ミリグラム"},  # written unit only
]
VALUES = ["100", "100.0", "99.5", "99.95", "100.5", "100.05", "99.4", "150", "50", "49.9", "0.05"]


def _observations() -> dict[str, dict[str, Any]]:
    """id -> valueQuantity."""
    rng = random.Random(20261123)
    return {
        f"q{n:03d}": {"value": float(rng.choice(VALUES)), **rng.choice(UNITS)} for n in range(50)
    }


def _probabilities() -> dict[str, dict[str, Any]]:
    """RiskAssessment id -> prediction.probability[x]: a decimal or a Range (`probability`,
    a number parameter)."""
    rng = random.Random(20261124)
    percents = [v for v in VALUES if Decimal(v) <= 100]  # ras-2: a probability is <= 100
    out: dict[str, dict[str, Any]] = {}
    for n in range(40):
        if n % 3 == 0:
            low, high = sorted(rng.sample(VALUES, 2), key=Decimal)  # (a Range may pass 100)
            range_ = {"low": {"value": float(low)}, "high": {"value": float(high)}}
            out[f"r{n:03d}"] = {"probabilityRange": range_}
        else:
            out[f"r{n:03d}"] = {"probabilityDecimal": float(rng.choice(percents))}
    return out


OBSERVATIONS = _observations()
PROBABILITIES = _probabilities()


client = loaded_client(
    [
        {"resourceType": "Patient", "id": "p"},
        *(
            {"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "q"}}
            | {"valueQuantity": quantity}
            for id, quantity in OBSERVATIONS.items()
        ),
        *(
            {"resourceType": "RiskAssessment", "id": id, "status": "final"}
            | {"subject": {"reference": "Patient/p"}, "prediction": [probability]}
            for id, probability in PROBABILITIES.items()
        ),
    ]
)


def stored(probability: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(low, high) of a stored probability, in decimals."""
    if "probabilityDecimal" in probability:
        point = Decimal(str(probability["probabilityDecimal"]))
        return point, point
    low, high = probability["probabilityRange"]["low"], probability["probabilityRange"]["high"]
    return Decimal(str(low["value"])), Decimal(str(high["value"]))


def number_matches(prefix: str, written: str, low: Decimal, high: Decimal) -> bool:
    v = Decimal(written)
    exponent = v.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5) * Decimal(10) ** (exponent - 1)
    inside = low >= v - half and high < v + half
    return {
        "eq": inside,
        "ne": not inside,
        "gt": high > v,
        "lt": low < v,
        "ge": high >= v,
        "le": low <= v,
        "sa": low > v,
        "eb": high < v,
    }[prefix or "eq"]


def unit_matches(system: str | None, code: str | None, unit: dict[str, Any]) -> bool:
    if code is None:
        return True
    if system:
        return unit.get("system") == system and unit.get("code") == code
    return code in (unit.get("code"), unit.get("unit"))


def oracle(prefix: str, written: str, system: str | None, code: str | None) -> set[str]:
    return {
        id
        for id, quantity in OBSERVATIONS.items()
        if number_matches(prefix, written, *[Decimal(str(quantity["value"]))] * 2)
        and unit_matches(system, code, quantity)
    }


def found(client: TestClient, path: str, param: str, value: str) -> set[str]:
    response = client.get(f"/fhir/{path}", params={param: value, "_count": "1000"})
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"]
WRITTEN = [*VALUES, "1e2", "1.0e2", "100.00", "5e1"]


@settings(max_examples=150)
@given(
    prefix=st.sampled_from(PREFIXES),
    written=st.sampled_from(WRITTEN),
    unit=st.sampled_from(
        [(None, None), (UCUM, "mg/dL"), (UCUM, "mmol/L"), ("", "mg/dL"), ("", "ミリグラム")]
    ),
)
def test_quantity_search_matches_the_oracle(
    client: TestClient, prefix: str, written: str, unit: tuple[str | None, str | None]
) -> None:
    system, code = unit
    value = prefix + written if code is None else f"{prefix}{written}|{system}|{code}"
    assert found(client, "Observation", "value-quantity", value) == oracle(
        prefix, written, system, code
    )


@settings(max_examples=100)
@given(prefix=st.sampled_from(PREFIXES), written=st.sampled_from(WRITTEN))
def test_number_search_over_decimals_and_ranges_matches_the_oracle(
    client: TestClient, prefix: str, written: str
) -> None:
    expected = {
        id
        for id, probability in PROBABILITIES.items()
        if number_matches(prefix, written, *stored(probability))
    }
    assert found(client, "RiskAssessment", "probability", prefix + written) == expected
