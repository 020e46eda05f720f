"""Composite search against an oracle: the parts of a value must hold in the same element.

Blood-pressure Observations have a systolic and a diastolic component, each a code and a
quantity; `component-code-value-quantity=8462-4$gt90` wants a diastolic component over 90,
not a diastolic one and some other component over 90. Their own code and value (a few
Observations have a valueQuantity) pair the same way through `code-value-quantity`. Codes
with a `$` (escaped in the search value) check that the separator is not split inside a
part. Both backends, over HTTP.
See: https://hl7.org/fhir/R4/search.html#composite
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import escape, loaded_client

LOINC = "http://loinc.org"
SYSTOLIC, DIASTOLIC, ODD = "8480-6", "8462-4", "x$1"  # ODD: a code with the separator in it
PREFIXES = ["", "gt", "lt", "ge", "le", "ne"]


def _quantity(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}


def _observations() -> dict[str, dict[str, Any]]:
    rng = random.Random(20261123)
    out: dict[str, dict[str, Any]] = {}
    for n in range(40):
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"c{n:02d}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": rng.choice(["85354-9", ODD])}]},
        }
        if n % 4 == 3:
            observation["valueQuantity"] = _quantity(rng.choice([80, 90, 100, 130]))
        else:
            observation["component"] = [
                {
                    "code": {"coding": [{"system": LOINC, "code": code}]},
                    "valueQuantity": _quantity(rng.choice([70, 80, 90, 100, 120, 130, 140])),
                }
                for code in rng.sample([SYSTOLIC, DIASTOLIC, ODD], rng.randint(1, 2))
            ]
        out[observation["id"]] = observation
    return out


OBSERVATIONS = _observations()


client = loaded_client(OBSERVATIONS.values())


def compares(prefix: str, stored: int, wanted: int) -> bool:
    # Integers searched as integers: `90` is [89.5, 90.5), which holds only 90 itself.
    return {
        "": stored == wanted,
        "gt": stored > wanted,
        "lt": stored < wanted,
        "ge": stored >= wanted,
        "le": stored <= wanted,
        "ne": stored != wanted,
    }[prefix]


def pairs(observation: dict[str, Any], param: str) -> list[tuple[str, int]]:
    """The (code, value) pairs a composite reads from an Observation."""
    if param == "code-value-quantity":
        if "valueQuantity" not in observation:
            return []
        code = observation["code"]["coding"][0]["code"]
        return [(code, observation["valueQuantity"]["value"])]
    return [
        (component["code"]["coding"][0]["code"], component["valueQuantity"]["value"])
        for component in observation.get("component", [])
    ]


def found(client: TestClient, param: str, value: str) -> set[str]:
    response = client.get("/fhir/Observation", params={param: value, "_count": "1000"})
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


@settings(max_examples=120)
@given(
    param=st.sampled_from(["component-code-value-quantity", "code-value-quantity"]),
    code=st.sampled_from([SYSTOLIC, DIASTOLIC, ODD, "85354-9"]),
    prefix=st.sampled_from(PREFIXES),
    wanted=st.sampled_from([80, 90, 100, 120, 130]),
)
def test_both_parts_hold_in_the_same_element(
    client: TestClient, param: str, code: str, prefix: str, wanted: int
) -> None:
    expected = {
        id
        for id, observation in OBSERVATIONS.items()
        if any(c == code and compares(prefix, v, wanted) for c, v in pairs(observation, param))
    }
    value = f"{LOINC}|{escape(code)}${prefix}{wanted}"
    assert found(client, param, value) == expected
