"""Disaster mode over HTTP: declare, status, end; what it opens to facilities in the area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from tests.auth_tokens import TokenFactory
from tsunagu.bootstrap import Platform
from tsunagu.interactions.operations.disaster import disaster_categories
from tsunagu.security.categories import Category
from tsunagu.security.principal import Role
from tsunagu.storage.repository import HistoryQuery

ISHIKAWA = "1710123456"
TOYAMA = "1610123456"
TOKYO = "1318814790"


def declaration(**values: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    values.setdefault("name", "令和X年能登地震")
    values.setdefault("start", (now - timedelta(minutes=1)).isoformat())
    values.setdefault("end", (now + timedelta(days=7)).isoformat())
    parameter = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            key = "valueDateTime" if name in ("start", "end") else "valueString"
            parameter.append({"name": name, key: item})
    return {"resourceType": "Parameters", "parameter": parameter}


def test_declare_status_and_end(
    secure_client: TestClient, auth: TokenFactory, secure_platform: Platform
) -> None:
    admin = auth.headers(Role.ADMINISTRATOR)
    created = secure_client.post(
        "/fhir/Basic/$declare-disaster",
        json=declaration(municipality=["17204", "172057"], servingFacility=TOKYO),
        headers=admin,
    )
    assert created.status_code == 201, created.text
    basic = created.json()
    assert basic["resourceType"] == "Basic"
    ctx = secure_platform.context("http://testserver/fhir")
    now = datetime.now(UTC)
    opened = {
        Category.PRESCRIPTIONS,
        Category.DIAGNOSES,
        Category.ALLERGIES,
        Category.CONTRAINDICATIONS,
    }
    assert disaster_categories(ctx, ISHIKAWA, now) == opened
    assert disaster_categories(ctx, TOKYO, now) == opened  # serving facility
    assert disaster_categories(ctx, TOYAMA, now) == frozenset()
    assert disaster_categories(ctx, ISHIKAWA, now + timedelta(days=8)) == frozenset()  # ends

    doctor = auth.headers(Role.PHYSICIAN, facility=ISHIKAWA)
    status = secure_client.get("/fhir/$disaster-status", headers=doctor).json()
    names = [p["name"] for p in status["parameter"]]
    assert names.count("declaration") == 1
    assert sorted(
        p["valueCoding"]["code"] for p in status["parameter"] if p["name"] == "category"
    ) == sorted(c.value for c in opened)
    far = secure_client.get(
        "/fhir/$disaster-status", headers=auth.headers(Role.PHYSICIAN, facility=TOYAMA)
    )
    assert far.json()["parameter"] == []

    ended = secure_client.post(f"/fhir/Basic/{basic['id']}/$end-disaster", headers=admin)
    assert ended.status_code == 200, ended.text
    assert ended.json()["meta"]["versionId"] == "2"
    assert disaster_categories(ctx, ISHIKAWA, datetime.now(UTC)) == frozenset()
    again = secure_client.post(f"/fhir/Basic/{basic['id']}/$end-disaster", headers=admin)
    assert again.status_code == 409
    versions = secure_platform.repository.history(HistoryQuery("Basic", basic["id"]))
    assert [v.resource.version for v in versions] == [2, 1]  # versioned: auditable
    periods = [
        e["valuePeriod"]
        for v in versions
        for e in (v.resource.content or {})["extension"]
        if "valuePeriod" in e
    ]
    assert periods[0]["end"] < periods[1]["end"]  # ended early


def test_only_administrators(secure_client: TestClient, auth: TokenFactory) -> None:
    for role in (Role.PHYSICIAN, Role.SYSTEM, Role.PATIENT):
        response = secure_client.post(
            "/fhir/Basic/$declare-disaster",
            json=declaration(prefecture="17"),
            headers=auth.headers(role),
        )
        assert response.status_code == 403, role
        assert " / " in response.json()["issue"][0]["diagnostics"]


def test_invalid_declarations(client: TestClient) -> None:
    cases = [
        declaration(),  # no area
        declaration(prefecture="48"),
        declaration(municipality="172058"),  # bad check digit
        declaration(prefecture="17", category="labs"),
        declaration(prefecture="17", end="2020-01-01T00:00:00+09:00"),
        declaration(prefecture="17", start="2030-01-01"),  # no time zone
        declaration(prefecture="17", servingFacility="123"),
        {"resourceType": "Parameters", "parameter": [{"name": "prefecture", "valueString": "17"}]},
    ]
    for case in cases:
        response = client.post("/fhir/Basic/$declare-disaster", json=case)
        assert response.status_code == 400, (case, response.text)
        assert " / " in response.json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/Basic?_summary=count").json()["total"] == 0


def test_end_unknown(client: TestClient) -> None:
    assert client.post("/fhir/Basic/nope/$end-disaster").status_code == 404
    other = client.post("/fhir/Basic", json={"resourceType": "Basic", "code": {"text": "x"}})
    assert other.status_code == 201
    assert client.post(f"/fhir/Basic/{other.json()['id']}/$end-disaster").status_code == 404


def test_in_capability_statement(client: TestClient) -> None:
    text = client.get("/fhir/metadata").text
    for name in ("declare-disaster", "eligibility", "import-roster"):
        assert name in text


def test_a_declaration_opens_medication_to_facilities_in_the_area(
    secure_client: TestClient, auth: TokenFactory
) -> None:
    tokyo = auth.headers(Role.PHYSICIAN, facility=TOKYO)
    patient = secure_client.post(
        "/fhir/Patient", json={"resourceType": "Patient", "birthDate": "1950-01-01"}, headers=tokyo
    ).json()["id"]
    prescription = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {"text": "アムロジピン錠5mg"},
    }
    assert secure_client.post(
        "/fhir/MedicationRequest", json=prescription, headers=tokyo
    ).is_success
    search = f"/fhir/MedicationRequest?subject=Patient/{patient}"

    def found(facility: str) -> int:
        headers = auth.headers(Role.PHYSICIAN, facility=facility)
        return int(secure_client.get(search, headers=headers).json()["total"])

    assert (found(ISHIKAWA), found(TOYAMA)) == (0, 0)  # no consent, no disaster
    admin = auth.headers(Role.ADMINISTRATOR)
    declared = secure_client.post(
        "/fhir/Basic/$declare-disaster", json=declaration(prefecture="17"), headers=admin
    )
    assert declared.status_code == 201
    assert (found(ISHIKAWA), found(TOYAMA)) == (1, 0)
    secure_client.post(f"/fhir/Basic/{declared.json()['id']}/$end-disaster", headers=admin)
    assert found(ISHIKAWA) == 0


def test_declare_only_on_basic(client: TestClient) -> None:
    response = client.post("/fhir/Patient/$declare-disaster", json=declaration(prefecture="17"))
    assert response.status_code == 400
