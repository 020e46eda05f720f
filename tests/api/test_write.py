"""create, update, patch and delete over HTTP, including conditional forms and errors."""

from __future__ import annotations

import orjson
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient

PATCH = {"content-type": "application/json-patch+json"}
MRN = "urn:oid:1.2.392.100495.20.3.51.11312345678"


def _with_mrn(value: str, family: str = "山田") -> dict[str, object]:
    return patient(family, identifier=[{"system": MRN, "value": value}])


def test_create_assigns_id_and_sets_headers(client: TestClient) -> None:
    response = client.post("/fhir/Patient", json=patient(id="client-chosen"), headers=FHIR_JSON)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1"
    assert response.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["etag"] == 'W/"1"'
    assert "last-modified" in response.headers


def test_create_with_wrong_type_or_body(client: TestClient) -> None:
    wrong = client.post("/fhir/Patient", json={"resourceType": "Observation"}, headers=FHIR_JSON)
    assert wrong.status_code == 400
    assert "Observation" in wrong.json()["issue"][0]["diagnostics"]
    unknown = client.post("/fhir/Patient", json={"resourceType": "Patinet"}, headers=FHIR_JSON)
    assert unknown.status_code == 400
    missing = client.post("/fhir/Patient", json={"name": []}, headers=FHIR_JSON)
    assert missing.status_code == 400
    assert missing.json()["issue"][0]["code"] == "required"
    array = client.post("/fhir/Patient", json=[1, 2], headers=FHIR_JSON)
    assert array.status_code == 400
    empty = client.post("/fhir/Patient", headers=FHIR_JSON)
    assert empty.status_code == 400


def test_malformed_json_is_400_without_echoing_content(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient", content=b'{"resourceType": "Patient", "name": [', headers=FHIR_JSON
    )
    assert response.status_code == 400
    message = response.json()["issue"][0]["diagnostics"]
    assert "line 1" in message
    assert "Patient" not in message


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient", content=b"<Patient/>", headers={"content-type": "application/fhir+xml"}
    )
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"


def test_too_large_is_413(client: TestClient) -> None:
    big = orjson.dumps(patient(text={"status": "generated", "div": "x" * (65 * 1024 * 1024)}))
    response = client.post("/fhir/Patient", content=big, headers=FHIR_JSON)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-long"


def test_update_creates_new_version_and_update_as_create(client: TestClient) -> None:
    created = client.put("/fhir/Patient/p-1", json=patient(id="p-1"), headers=FHIR_JSON)
    assert created.status_code == 201
    updated = client.put("/fhir/Patient/p-1", json=patient("佐藤", id="p-1"), headers=FHIR_JSON)
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated.headers["etag"] == 'W/"2"'
    assert client.get("/fhir/Patient/p-1").json()["name"][0]["family"] == "佐藤"


def test_update_id_rules(client: TestClient) -> None:
    missing = client.put("/fhir/Patient/p-2", json=patient(), headers=FHIR_JSON)
    assert missing.status_code == 400
    other = client.put("/fhir/Patient/p-2", json=patient(id="p-3"), headers=FHIR_JSON)
    assert other.status_code == 400
    assert client.get("/fhir/Patient/p-2").status_code == 404
    assert client.get("/fhir/Patient/p-3").status_code == 404


def test_if_match(client: TestClient) -> None:
    client.put("/fhir/Patient/p-4", json=patient(id="p-4"), headers=FHIR_JSON)
    ok = client.put(
        "/fhir/Patient/p-4", json=patient(id="p-4"), headers={**FHIR_JSON, "if-match": 'W/"1"'}
    )
    assert ok.status_code == 200
    stale = client.put(
        "/fhir/Patient/p-4", json=patient(id="p-4"), headers={**FHIR_JSON, "if-match": 'W/"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict"
    assert client.get("/fhir/Patient/p-4").json()["meta"]["versionId"] == "2"
    new = client.put(
        "/fhir/Patient/p-5", json=patient(id="p-5"), headers={**FHIR_JSON, "if-match": 'W/"1"'}
    )
    assert new.status_code == 412
    assert client.get("/fhir/Patient/p-5").status_code == 404


def test_conditional_create(client: TestClient) -> None:
    headers = {**FHIR_JSON, "if-none-exist": f"identifier={MRN}|0001"}
    first = client.post("/fhir/Patient", json=_with_mrn("0001"), headers=headers)
    assert first.status_code == 201
    second = client.post("/fhir/Patient", json=_with_mrn("0001"), headers=headers)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    client.post("/fhir/Patient", json=_with_mrn("0001", "重複"), headers=FHIR_JSON)
    third = client.post("/fhir/Patient", json=_with_mrn("0001"), headers=headers)
    assert third.status_code == 412
    by_name = client.post(
        "/fhir/Patient",
        json=patient(),
        headers={**FHIR_JSON, "if-none-exist": "name=%E5%B1%B1%E7%94%B0"},
    )
    assert by_name.status_code == 200  # exactly one 山田 exists (the other is 重複)
    unknown = client.post(
        "/fhir/Patient", json=patient(), headers={**FHIR_JSON, "if-none-exist": "foo=bar"}
    )
    assert unknown.status_code == 400
    assert "foo" in unknown.json()["issue"][0]["diagnostics"]


def test_conditional_update(client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={MRN}|0002"
    created = client.put(url, json=_with_mrn("0002"), headers=FHIR_JSON)
    assert created.status_code == 201
    pid = created.json()["id"]
    updated = client.put(url, json=_with_mrn("0002", "更新"), headers=FHIR_JSON)
    assert updated.status_code == 200
    assert updated.json()["id"] == pid
    assert updated.json()["meta"]["versionId"] == "2"
    wrong_id = client.put(url, json={**_with_mrn("0002"), "id": "other"}, headers=FHIR_JSON)
    assert wrong_id.status_code == 400
    client.post("/fhir/Patient", json=_with_mrn("0002"), headers=FHIR_JSON)
    several = client.put(url, json=_with_mrn("0002"), headers=FHIR_JSON)
    assert several.status_code == 412


def test_conditional_delete(client: TestClient) -> None:
    pid = client.post("/fhir/Patient", json=_with_mrn("0003"), headers=FHIR_JSON).json()["id"]
    none = client.delete(f"/fhir/Patient?identifier={MRN}|9999")
    assert none.status_code == 200
    assert none.json()["issue"][0]["severity"] == "information"
    one = client.delete(f"/fhir/Patient?identifier={MRN}|0003")
    assert one.status_code == 204
    assert client.get(f"/fhir/Patient/{pid}").status_code == 410
    no_criteria = client.delete("/fhir/Patient")
    assert no_criteria.status_code == 400


def test_delete_is_versioned_and_idempotent(client: TestClient) -> None:
    client.put("/fhir/Patient/p-6", json=patient(id="p-6"), headers=FHIR_JSON)
    assert client.delete("/fhir/Patient/p-6").status_code == 204
    assert client.delete("/fhir/Patient/p-6").status_code == 204
    history = client.get("/fhir/Patient/p-6/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT"]
    assert client.delete("/fhir/Patient/never").status_code == 404
    revived = client.put("/fhir/Patient/p-6", json=patient(id="p-6"), headers=FHIR_JSON)
    assert revived.status_code == 201
    assert revived.json()["meta"]["versionId"] == "3"


def test_prefer_return(client: TestClient) -> None:
    minimal = client.post(
        "/fhir/Patient", json=patient(), headers={**FHIR_JSON, "prefer": "return=minimal"}
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "location" in minimal.headers
    outcome = client.post(
        "/fhir/Patient", json=patient(), headers={**FHIR_JSON, "prefer": "return=OperationOutcome"}
    )
    assert outcome.json()["resourceType"] == "OperationOutcome"
    representation = client.post(
        "/fhir/Patient", json=patient(), headers={**FHIR_JSON, "prefer": "return=representation"}
    )
    assert representation.json()["resourceType"] == "Patient"


def test_json_patch(client: TestClient) -> None:
    client.put("/fhir/Patient/p-7", json=patient(id="p-7", gender="male"), headers=FHIR_JSON)
    ops = [
        {"op": "test", "path": "/gender", "value": "male"},
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/birthDate", "value": "2000-01-01"},
    ]
    response = client.patch("/fhir/Patient/p-7", json=ops, headers=PATCH)
    assert response.status_code == 200
    body = response.json()
    assert body["gender"] == "female"
    assert body["birthDate"] == "2000-01-01"
    assert body["meta"]["versionId"] == "2"


def test_json_patch_errors_change_nothing(client: TestClient) -> None:
    client.put("/fhir/Patient/p-8", json=patient(id="p-8", gender="male"), headers=FHIR_JSON)
    failed_test = client.patch(
        "/fhir/Patient/p-8",
        json=[
            {"op": "replace", "path": "/gender", "value": "other"},
            {"op": "test", "path": "/gender", "value": "male"},
        ],
        headers=PATCH,
    )
    assert failed_test.status_code == 422
    assert "#1 test /gender" in failed_test.json()["issue"][0]["diagnostics"]
    missing_path = client.patch(
        "/fhir/Patient/p-8", json=[{"op": "remove", "path": "/nothing"}], headers=PATCH
    )
    assert missing_path.status_code == 422
    not_array = client.patch("/fhir/Patient/p-8", json={"op": "remove"}, headers=PATCH)
    assert not_array.status_code == 400
    change_id = client.patch(
        "/fhir/Patient/p-8", json=[{"op": "replace", "path": "/id", "value": "x"}], headers=PATCH
    )
    assert change_id.status_code == 422
    change_type = client.patch(
        "/fhir/Patient/p-8",
        json=[{"op": "replace", "path": "/resourceType", "value": "Observation"}],
        headers=PATCH,
    )
    assert change_type.status_code == 400
    wrong_media = client.patch("/fhir/Patient/p-8", json=[], headers=FHIR_JSON)
    assert wrong_media.status_code == 415
    stale = client.patch("/fhir/Patient/p-8", json=[], headers={**PATCH, "if-match": 'W/"9"'})
    assert stale.status_code == 412
    current = client.get("/fhir/Patient/p-8").json()
    assert current["gender"] == "male"
    assert current["meta"]["versionId"] == "1"


def test_conditional_patch(client: TestClient) -> None:
    pid = client.post("/fhir/Patient", json=_with_mrn("0004"), headers=FHIR_JSON).json()["id"]
    ops = [{"op": "add", "path": "/active", "value": True}]
    response = client.patch(f"/fhir/Patient?identifier={MRN}|0004", json=ops, headers=PATCH)
    assert response.status_code == 200
    assert response.json()["id"] == pid
    missing = client.patch(f"/fhir/Patient?identifier={MRN}|nope", json=ops, headers=PATCH)
    assert missing.status_code == 404


# The elements each type requires (writes are validated).
MINIMAL: dict[str, dict[str, object]] = {
    "Patient": {},
    "Observation": {"status": "final", "code": {"text": "体温"}},
    "MedicationRequest": {
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "アムロジピン錠5mg"},
        "subject": {"reference": "Patient/x1"},
    },
    "Consent": {
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
            ]
        },
    },
    "Binary": {"contentType": "text/plain"},
}


def test_every_r4_type_is_accepted(client: TestClient) -> None:
    for rtype, required in MINIMAL.items():
        response = client.put(
            f"/fhir/{rtype}/x1",
            json={"resourceType": rtype, "id": "x1", **required},
            headers=FHIR_JSON,
        )
        assert response.status_code == 201, (rtype, response.text)
