"""Composite search parameters: component values must come from the same element."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON

LOINC = "http://loinc.org"


def _component(code: str, value: float) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
    }


def _blood_pressure(rid: str, systolic: float, diastolic: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "component": [_component("8480-6", systolic), _component("8462-4", diastolic)],
    }


def _ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/fhir/Observation?{query}")
    assert response.status_code == 200, response.text
    return sorted(e["resource"]["id"] for e in response.json().get("entry", []))


def test_component_values_pair_within_one_component(client: TestClient) -> None:
    for rid, high, low in (("high", 160, 100), ("normal", 118, 76)):
        body = _blood_pressure(rid, high, low)
        assert (
            client.put(f"/fhir/Observation/{rid}", json=body, headers=FHIR_JSON).status_code == 201
        )
    systolic = f"{LOINC}|8480-6"
    assert _ids(client, f"component-code-value-quantity={systolic}$gt140") == ["high"]
    assert _ids(client, f"component-code-value-quantity={systolic}$lt140") == ["normal"]
    # 100 is a diastolic value of "high": it must not pair with the systolic code.
    assert _ids(client, f"component-code-value-quantity={systolic}$100") == []
    assert _ids(client, f"component-code-value-quantity={systolic}$lt100,{systolic}$gt150") == [
        "high"
    ]
    assert _ids(client, "combo-code-value-quantity=8462-4$76") == ["normal"]
    assert _ids(client, "component-code-value-quantity:missing=false") == ["high", "normal"]
    bad = client.get(f"/fhir/Observation?component-code-value-quantity={systolic}")
    assert bad.status_code == 400


def test_combo_composites_pair_on_the_observation_and_on_each_component(
    client: TestClient,
) -> None:
    # `combo-code-value-quantity` writes no rows: it reads those of `code-value-quantity` (the
    # Observation's own code and value) and `component-code-value-quantity` (each component's).
    weight = {
        "resourceType": "Observation",
        "id": "weight",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
        "valueQuantity": {"value": 60, "system": "http://unitsofmeasure.org", "code": "kg"},
        "component": [_component("8480-6", 120)],
    }
    for body in (weight, _blood_pressure("bp", 150, 95)):
        assert client.put(f"/fhir/Observation/{body['id']}", json=body).status_code == 201
    assert _ids(client, "combo-code-value-quantity=29463-7$60") == ["weight"]
    assert _ids(client, "combo-code-value-quantity=8480-6$gt119") == ["bp", "weight"]
    # The Observation's code with a component's value is no pair.
    assert _ids(client, "combo-code-value-quantity=29463-7$120") == []
    assert _ids(client, "combo-code-value-quantity=85354-9$150") == []
    assert _ids(client, "combo-code-value-quantity:missing=false") == ["bp", "weight"]
    assert _ids(client, "code-value-quantity:missing=true") == ["bp"]
    assert _ids(client, "combo-code=8462-4") == ["bp"]
    assert _ids(client, "combo-code=29463-7,85354-9") == ["bp", "weight"]


def test_observation_composites_pair_its_code_and_value_rows(client: TestClient) -> None:
    # `code-value-quantity` and `code-value-concept` write no rows: they pair the `code` rows
    # of an Observation with its `value-quantity` or `value-concept` rows.
    sampled = {"origin": {"value": 0}, "period": 10, "dimensions": 1, "data": "1 2 3"}
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        ("glucose", "15074-8", {"valueQuantity": {"value": 6.3, "unit": "mmol/L"}}),
        ("no-value", "15074-8", {}),
        ("ecg", "15074-8", {"valueSampledData": sampled}),
        ("smoker", "72166-2", {"valueCodeableConcept": {"text": "毎日喫煙"}}),
    ]
    for rid, code, value in bodies:
        resource = {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            **value,
        }
        response = client.put(f"/fhir/Observation/{rid}", json=resource)
        assert response.status_code == 201, response.text
    assert _ids(client, f"code-value-quantity={LOINC}|15074-8$gt6") == ["glucose"]
    assert _ids(client, "code-value-quantity=15074-8$lt6") == []
    assert _ids(client, "code-value-quantity=72166-2$6.3") == []
    assert _ids(client, "combo-code-value-quantity=15074-8$6.3") == ["glucose"]
    # A SampledData is a series, not a quantity: neither parameter has a value for it.
    assert _ids(client, "value-quantity=0") == []
    assert _ids(client, "code-value-quantity:missing=false") == ["glucose"]
    assert _ids(client, "code-value-quantity:missing=true") == ["ecg", "no-value", "smoker"]
    assert _ids(client, "code-value-concept:missing=false") == ["smoker"]
    assert _ids(client, "code-value-concept:missing=true") == ["ecg", "glucose", "no-value"]


def test_reverse_chaining_finds_the_patient_by_a_paired_composite(client: TestClient) -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    assert client.put("/fhir/Patient/p1", json=patient).status_code == 201
    glucose = {
        "resourceType": "Observation",
        "id": "g1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": LOINC, "code": "15074-8"}]},
        "valueQuantity": {"value": 11.2, "unit": "mmol/L"},
    }
    assert client.put("/fhir/Observation/g1", json=glucose).status_code == 201

    def patients(query: str) -> list[str]:
        response = client.get(f"/fhir/Patient?{query}")
        assert response.status_code == 200, response.text
        return [e["resource"]["id"] for e in response.json().get("entry", [])]

    assert patients("_has:Observation:subject:code-value-quantity=15074-8$gt10") == ["p1"]
    assert patients("_has:Observation:subject:code-value-quantity=15074-8$lt10") == []
    assert patients("_has:Observation:subject:combo-code-value-quantity=15074-8$11.2") == ["p1"]
