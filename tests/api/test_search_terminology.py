"""`:in` / `:not-in` with the value sets of the server's packages, and a token's `:below` /
`:above` in their code systems' hierarchies, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON

VITAL_SIGNS = "http://hl7.org/fhir/ValueSet/observation-vitalsignresult"
CATEGORIES = "http://hl7.org/fhir/ValueSet/observation-category"
GENDERS = "http://hl7.org/fhir/ValueSet/administrative-gender"
LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _observation(rid: str, code: str, category: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
    }
    if category is not None:
        body["category"] = [{"coding": [{"system": CATEGORY, "code": category}]}]
    return body


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    resources = [
        _observation("heart-rate", "8867-4", "vital-signs"),  # a vital sign
        _observation("weight", "29463-7", "vital-signs"),  # a vital sign
        _observation("hba1c", "4548-4", "laboratory"),  # not
        _observation("uncategorised", "4548-4", None),
        {"resourceType": "Patient", "id": "f", "gender": "female"},
        {"resourceType": "Patient", "id": "none"},
    ]
    for body in resources:
        path = f"/fhir/{body['resourceType']}/{body['id']}"
        response = client.put(path, json=body, headers=FHIR_JSON)
        assert response.status_code == 201, response.text
    return client


def _ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/fhir/{query}")
    assert response.status_code == 200, response.text
    return sorted(e["resource"]["id"] for e in response.json().get("entry", []))


def test_in_and_not_in_search_by_the_value_sets_codes(loaded: TestClient) -> None:
    assert _ids(loaded, f"Observation?code:in={VITAL_SIGNS}") == ["heart-rate", "weight"]
    assert _ids(loaded, f"Observation?code:not-in={VITAL_SIGNS}") == ["hba1c", "uncategorised"]
    assert _ids(loaded, f"Observation?category:in={CATEGORIES}") == [
        "hba1c",
        "heart-rate",
        "weight",
    ]
    assert _ids(loaded, f"Observation?category:not-in={CATEGORIES}") == ["uncategorised"]
    # A `code` element has no system in the index: its binding's codes match it.
    assert _ids(loaded, f"Patient?gender:in={GENDERS}") == ["f"]
    assert _ids(loaded, f"Patient?gender:not-in={GENDERS}") == ["none"]


@pytest.mark.parametrize(
    ("value_set", "code"),
    [
        ("http://example.org/ValueSet/unknown", "not-found"),
        ("http://hl7.org/fhir/ValueSet/observation-codes", "not-supported"),  # all of LOINC
    ],
)
def test_a_value_set_that_cannot_be_expanded_is_a_bad_request(
    loaded: TestClient, value_set: str, code: str
) -> None:
    response = loaded.get(f"/fhir/Observation?code:in={value_set}")
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["code"] == code
    assert issue["expression"] == ["code:in"]


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def test_below_and_above_follow_the_code_systems_hierarchy(client: TestClient) -> None:
    # In v3-ActCode, IMP (inpatient) is above ACUTE (inpatient acute); AMB is elsewhere.
    for rid, code in (("ward", "IMP"), ("acute", "ACUTE"), ("clinic", "AMB")):
        body = {
            "resourceType": "Encounter",
            "id": rid,
            "status": "finished",
            "class": {"system": ACT_CODE, "code": code},
        }
        response = client.put(f"/fhir/Encounter/{rid}", json=body, headers=FHIR_JSON)
        assert response.status_code == 201, response.text
    assert _ids(client, f"Encounter?class:below={ACT_CODE}|IMP") == ["acute", "ward"]
    assert _ids(client, f"Encounter?class:below={ACT_CODE}|ACUTE") == ["acute"]
    assert _ids(client, f"Encounter?class:above={ACT_CODE}|ACUTE") == ["acute", "ward"]
    assert _ids(client, f"Encounter?class:above={ACT_CODE}|AMB") == ["clinic"]
    response = client.get("/fhir/Encounter?class:below=http://snomed.info/sct|123")
    assert response.status_code == 400  # not a code system whose codes are all known here
    assert response.json()["issue"][0]["expression"] == ["class:below"]
