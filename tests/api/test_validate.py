"""Validation over HTTP: rejected writes (422, every issue, nothing stored), $validate, the
required profiles setting, and switching validation off."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient
from tests.unit.validation.test_mutations import CONDITION_ECS, clins_condition
from tsunagu.bootstrap import build_platform
from tsunagu.http.app import create_app
from tsunagu.settings import Settings

PATCH = {"content-type": "application/json-patch+json"}
UNKNOWN_EXTENSION = "http://example.org/fhir/StructureDefinition/favourite-colour"


def _bad_patient() -> dict[str, Any]:
    """Two defects: an invalid date and an unknown element."""
    return patient(birthDate="1970-02-30", nickname="タロ")


def _issues(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def _errors_at(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (issue["code"], expression)
        for issue in _issues(body)
        if issue["severity"] == "error"
        for expression in issue.get("expression", [])
    }


def _count(client: TestClient, resource_type: str) -> int:
    response = client.get(f"/fhir/{resource_type}", params={"_summary": "count"})
    assert response.status_code == 200
    total: int = response.json()["total"]
    return total


def _client(database_url: str, **settings: Any) -> Iterator[TestClient]:
    platform = build_platform(Settings(database_url=database_url, insecure_dev=True, **settings))
    with TestClient(create_app(platform)) as test_client:
        yield test_client


# --- rejected writes ------------------------------------------------------------------


def test_invalid_create_is_422_listing_every_issue_and_stores_nothing(client: TestClient) -> None:
    response = client.post("/fhir/Patient", json=_bad_patient(), headers=FHIR_JSON)
    assert response.status_code == 422
    body = response.json()
    assert _errors_at(body) == {("value", "Patient.birthDate"), ("structure", "Patient.nickname")}
    for issue in _issues(body):
        japanese, _, english = issue["diagnostics"].partition(" / ")
        assert japanese
        assert english
        assert "1970-02-30" not in issue["diagnostics"]  # no resource content in messages
    assert _count(client, "Patient") == 0


def test_invalid_update_keeps_the_current_version(client: TestClient) -> None:
    created = client.put("/fhir/Patient/p1", json=patient(id="p1"), headers=FHIR_JSON)
    assert created.status_code == 201
    response = client.put(
        "/fhir/Patient/p1", json={**_bad_patient(), "id": "p1"}, headers=FHIR_JSON
    )
    assert response.status_code == 422
    assert ("value", "Patient.birthDate") in _errors_at(response.json())
    current = client.get("/fhir/Patient/p1").json()
    assert current["meta"]["versionId"] == "1"
    assert "birthDate" not in current


def test_invalid_update_as_create_stores_nothing(client: TestClient) -> None:
    response = client.put(
        "/fhir/Patient/p2", json={**_bad_patient(), "id": "p2"}, headers=FHIR_JSON
    )
    assert response.status_code == 422
    assert client.get("/fhir/Patient/p2").status_code == 404


def test_patch_that_makes_the_resource_invalid_is_rejected(client: TestClient) -> None:
    client.put("/fhir/Patient/p1", json=patient(id="p1"), headers=FHIR_JSON)
    operations = [{"op": "add", "path": "/gender", "value": "M"}]
    response = client.patch("/fhir/Patient/p1", content=orjson.dumps(operations), headers=PATCH)
    assert response.status_code == 422
    assert _errors_at(response.json()) == {("code-invalid", "Patient.gender")}
    assert client.get("/fhir/Patient/p1").json()["meta"]["versionId"] == "1"
    fine = [{"op": "add", "path": "/gender", "value": "male"}]
    assert (
        client.patch("/fhir/Patient/p1", content=orjson.dumps(fine), headers=PATCH).status_code
        == 200
    )


def test_warnings_do_not_block_a_write(client: TestClient) -> None:
    resource = patient(extension=[{"url": UNKNOWN_EXTENSION, "valueString": "青"}])
    response = client.post("/fhir/Patient", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201
    outcome = client.post(
        "/fhir/Patient/$validate", json=resource, headers=FHIR_JSON
    ).json()  # the same resource does carry a warning
    assert [i["severity"] for i in _issues(outcome)] == ["warning"]


def test_transaction_with_invalid_entries_changes_nothing_and_reports_each(
    client: TestClient,
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient("有効"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": _bad_patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {**patient("更新"), "id": "u1", "gender": "M"},
                "request": {"method": "PUT", "url": "Patient/u1"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422
    found = _errors_at(response.json())
    assert ("value", "Bundle.entry[1]") in found
    assert ("code-invalid", "Bundle.entry[2]") in found
    assert not any(where == "Bundle.entry[0]" for _, where in found)
    expressions = {
        tuple(i.get("expression", [])) for i in _issues(response.json()) if i["severity"] == "error"
    }
    assert ("Bundle.entry[1]", "Patient.birthDate") in expressions
    assert ("Bundle.entry[2]", "Patient.gender") in expressions
    assert _count(client, "Patient") == 0


def test_transaction_report_resolves_placeholders_of_other_entries(client: TestClient) -> None:
    """Entries not yet run are checked as they would run: their placeholders resolved."""
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "体温"},
        "subject": {"reference": "urn:tsunagu:test:patient"},
        "performer": [{"reference": "Practitioner?identifier=urn:test|d1"}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:tsunagu:test:patient",
                "resource": {**patient(), "gender": "M"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422
    assert _errors_at(response.json()) == {
        ("code-invalid", "Bundle.entry[0]"),
        ("code-invalid", "Patient.gender"),
    }


def test_batch_rejects_only_the_invalid_entry(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient("有効"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": _bad_patient(), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert [s.split()[0] for s in statuses] == ["201", "422"]
    outcome = response.json()["entry"][1]["response"]["outcome"]
    assert ("value", "Patient.birthDate") in _errors_at(outcome)
    assert _count(client, "Patient") == 1


def test_transaction_patch_entry_is_validated(client: TestClient) -> None:
    client.put("/fhir/Patient/p1", json=patient(id="p1"), headers=FHIR_JSON)
    document = orjson.dumps([{"op": "add", "path": "/birthDate", "value": "1970-13-01"}])
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(document).decode(),
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": binary, "request": {"method": "PATCH", "url": "Patient/p1"}}],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 422
    assert ("value", "Bundle.entry[0]") in _errors_at(response.json())
    assert client.get("/fhir/Patient/p1").json()["meta"]["versionId"] == "1"


# --- $validate ------------------------------------------------------------------------


def test_validate_a_valid_resource(client: TestClient) -> None:
    response = client.post("/fhir/Patient/$validate", json=patient(), headers=FHIR_JSON)
    assert response.status_code == 200
    issues = _issues(response.json())
    assert len(issues) == 1
    assert issues[0]["severity"] == "information"
    assert issues[0]["diagnostics"] == "問題ありません / no issues"
    assert _count(client, "Patient") == 0  # $validate stores nothing


def test_validate_an_invalid_resource_is_200_with_every_issue(client: TestClient) -> None:
    response = client.post("/fhir/Patient/$validate", json=_bad_patient(), headers=FHIR_JSON)
    assert response.status_code == 200
    assert _errors_at(response.json()) == {
        ("value", "Patient.birthDate"),
        ("structure", "Patient.nickname"),
    }


def _parameters(resource: dict[str, Any] | None, **values: str) -> dict[str, Any]:
    parameter: list[dict[str, Any]] = []
    if resource is not None:
        parameter.append({"name": "resource", "resource": resource})
    if "mode" in values:
        parameter.append({"name": "mode", "valueCode": values["mode"]})
    if "profile" in values:
        parameter.append({"name": "profile", "valueUri": values["profile"]})
    return {"resourceType": "Parameters", "parameter": parameter}


def test_validate_with_parameters_and_a_profile(client: TestClient) -> None:
    plain = clins_condition()
    del plain["meta"]["profile"]
    without = client.post("/fhir/Condition/$validate", json=_parameters(plain), headers=FHIR_JSON)
    assert [i["severity"] for i in _issues(without.json())] == ["information"]
    broken = clins_condition()
    del broken["meta"]["profile"]
    del broken["code"]["text"]
    body = _parameters(broken, profile=CONDITION_ECS)
    response = client.post("/fhir/Condition/$validate", json=body, headers=FHIR_JSON)
    assert response.status_code == 200
    # The profile also wants itself claimed in meta.profile (1..*).
    expected = {("required", "Condition.code.text"), ("required", "Condition.meta.profile")}
    assert _errors_at(response.json()) == expected
    query = client.post(
        "/fhir/Condition/$validate",
        params={"profile": CONDITION_ECS},
        json=broken,
        headers=FHIR_JSON,
    )
    assert _errors_at(query.json()) == expected


def test_validate_unknown_profile_is_reported(client: TestClient) -> None:
    body = _parameters(patient(), profile="http://example.org/StructureDefinition/none")
    response = client.post("/fhir/Patient/$validate", json=body, headers=FHIR_JSON)
    assert response.status_code == 200
    assert any(i["severity"] == "error" for i in _issues(response.json()))


def test_validate_modes_update_and_delete(client: TestClient) -> None:
    client.put("/fhir/Patient/p1", json=patient(id="p1"), headers=FHIR_JSON)
    same = _parameters({**patient(), "id": "p1"}, mode="update")
    ok = client.post("/fhir/Patient/p1/$validate", json=same, headers=FHIR_JSON)
    assert [i["severity"] for i in _issues(ok.json())] == ["information"]
    other = _parameters({**patient(), "id": "p9"}, mode="update")
    mismatch = client.post("/fhir/Patient/p1/$validate", json=other, headers=FHIR_JSON)
    assert _errors_at(mismatch.json()) == {("invalid", "Patient.id")}
    delete = client.post("/fhir/Patient/p1/$validate", json=_parameters(None, mode="delete"))
    assert delete.status_code == 200
    assert [i["severity"] for i in _issues(delete.json())] == ["information"]
    missing = client.post("/fhir/Patient/nobody/$validate", json=_parameters(None, mode="delete"))
    assert missing.status_code == 404
    assert client.get("/fhir/Patient/p1").status_code == 200  # mode=delete deletes nothing


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_parameters(patient(), mode="destroy"), 400),
        (_parameters(None), 400),
        ({"resourceType": "Observation", "status": "final"}, 400),
        ([1, 2], 400),
    ],
)
def test_validate_refuses_what_it_cannot_check(client: TestClient, body: Any, status: int) -> None:
    response = client.post("/fhir/Patient/$validate", json=body, headers=FHIR_JSON)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_validate_is_post_only_and_listed_in_the_capability_statement(client: TestClient) -> None:
    assert client.get("/fhir/Patient/$validate").status_code == 405
    statement = client.get("/fhir/metadata").json()
    for resource in statement["rest"][0]["resource"]:
        if resource["type"] in ("Patient", "Condition", "Observation"):
            names = {op["name"] for op in resource.get("operation", [])}
            assert "validate" in names
            definitions = {op["definition"] for op in resource["operation"]}
            assert "http://hl7.org/fhir/OperationDefinition/Resource-validate" in definitions


# --- settings -------------------------------------------------------------------------


@pytest.fixture
def clins_client(database_url: str) -> Iterator[TestClient]:
    yield from _client(database_url, required_profiles={"Condition": [CONDITION_ECS]})


def test_required_profile_must_be_claimed_and_met(clins_client: TestClient) -> None:
    good = clins_condition()
    assert clins_client.post("/fhir/Condition", json=good, headers=FHIR_JSON).status_code == 201
    unclaimed = clins_condition()
    del unclaimed["meta"]["profile"]
    response = clins_client.post("/fhir/Condition", json=unclaimed, headers=FHIR_JSON)
    assert response.status_code == 422
    assert _errors_at(response.json()) == {("processing", "Condition.meta.profile")}
    claimed_but_broken = clins_condition()
    del claimed_but_broken["code"]["text"]
    response = clins_client.post("/fhir/Condition", json=claimed_but_broken, headers=FHIR_JSON)
    assert _errors_at(response.json()) == {("required", "Condition.code.text")}
    versioned = clins_condition()
    versioned["meta"]["profile"] = [f"{CONDITION_ECS}|1"]
    assert (
        clins_client.post("/fhir/Condition", json=versioned, headers=FHIR_JSON).status_code == 201
    )
    # other types are not concerned
    assert clins_client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON).status_code == 201


def test_required_profiles_apply_to_validate_too(clins_client: TestClient) -> None:
    unclaimed = clins_condition()
    del unclaimed["meta"]["profile"]
    response = clins_client.post("/fhir/Condition/$validate", json=unclaimed, headers=FHIR_JSON)
    assert _errors_at(response.json()) == {("processing", "Condition.meta.profile")}


def test_required_profiles_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TSUNAGU_REQUIRED_PROFILES", orjson.dumps({"Condition": [CONDITION_ECS]}).decode()
    )
    monkeypatch.setenv("TSUNAGU_VALIDATION", "false")
    settings = Settings()
    assert settings.required_profiles == {"Condition": [CONDITION_ECS]}
    assert settings.validation is False


def test_validation_can_be_switched_off(database_url: str) -> None:
    for off in _client(database_url, validation=False):
        response = off.post("/fhir/Patient", json=_bad_patient(), headers=FHIR_JSON)
        assert response.status_code == 201
        checked = off.post("/fhir/Patient/$validate", json=_bad_patient(), headers=FHIR_JSON)
        issues = _issues(checked.json())
        assert [(i["severity"], i["code"]) for i in issues] == [("warning", "not-supported")]
        assert "switched off" in issues[0]["diagnostics"]


def test_coverage_with_a_wrong_check_digit_is_refused(client: TestClient) -> None:
    from tsunagu.identity.coverage import CoverageFacts, coverage_resource
    from tsunagu.identity.insurance import MemberId

    owner = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    facts = CoverageFacts(
        MemberId("33120015", "12-34", "5678", "01"), beneficiary=f"Patient/{owner}"
    )
    good = coverage_resource(facts)
    assert client.post("/fhir/Coverage", json=good, headers=FHIR_JSON).status_code == 201
    bad = orjson.loads(orjson.dumps(good).replace(b"33120015", b"33120016"))
    response = client.post("/fhir/Coverage", json=bad, headers=FHIR_JSON)
    assert response.status_code == 422
    issues = response.json()["issue"]
    assert any("Coverage.payor[0].identifier.value" in i.get("expression", []) for i in issues)
    assert "33120016" not in response.text  # the number is not repeated back
