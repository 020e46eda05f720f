"""batch and transaction Bundles: atomicity, placeholders, conditional references, order."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient

MRN = "urn:oid:1.2.392.100495.20.3.51.11312345678"


def _bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _observation(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "体温"},
        "subject": {"reference": subject},
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{subject}">患者</a></div>',
        },
    }


def _total(client: TestClient) -> int:
    """Versions stored, apart from the AuditEvents every request leaves."""
    entries = client.get("/fhir/_history?_count=1000").json().get("entry", [])
    kinds = [
        e["resource"]["resourceType"] if "resource" in e else e["request"]["url"].split("/")[0]
        for e in entries
    ]
    return sum(kind != "AuditEvent" for kind in kinds)


def test_transaction_rewrites_placeholders(client: TestClient) -> None:
    urn = "urn:uuid:4b6e3e1e-1f0e-4a4e-9a3e-1d2c3b4a5f60"
    bundle = _bundle(
        "transaction",
        _post(_observation(urn)),  # refers to an entry that comes later
        _post(patient(), urn),
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    obs_location = result["entry"][0]["response"]["location"]
    patient_url = result["entry"][1]["fullUrl"]
    patient_id = patient_url.rsplit("/", 1)[1]
    observation = client.get(obs_location.split("/_history")[0].split("testserver")[1]).json()
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"
    assert f"Patient/{patient_id}" in observation["text"]["div"]
    assert urn not in orjson.dumps(observation).decode()


def test_transaction_is_all_or_nothing(client: TestClient) -> None:
    client.put("/fhir/Patient/t1", json=patient(id="t1"), headers=FHIR_JSON)
    before = _total(client)
    bundle = _bundle(
        "transaction",
        _post(patient("新規")),
        {
            "resource": patient("更新", id="t1"),
            "request": {"method": "PUT", "url": "Patient/t1", "ifMatch": 'W/"5"'},
        },
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 412
    issue = response.json()["issue"][0]
    assert issue["diagnostics"].startswith("Bundle.entry[1]")
    assert issue["expression"][0] == "Bundle.entry[1]"
    assert _total(client) == before
    assert client.get("/fhir/Patient/t1").json()["name"][0]["family"] == "山田"


def test_transaction_with_invalid_entry_changes_nothing(client: TestClient) -> None:
    bundle = _bundle(
        "transaction",
        _post(patient("一")),
        {
            "resource": {"resourceType": "NotAType"},
            "request": {"method": "POST", "url": "NotAType"},
        },
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 404
    assert _total(client) == 0
    no_request = _bundle("transaction", {"resource": patient()})
    assert client.post("/fhir", json=no_request, headers=FHIR_JSON).status_code == 400


def test_transaction_order_delete_before_create(client: TestClient) -> None:
    old = patient("旧", id="t2", identifier=[{"system": MRN, "value": "0200"}])
    client.put("/fhir/Patient/t2", json=old, headers=FHIR_JSON)
    new = patient("新", identifier=[{"system": MRN, "value": "0200"}])
    bundle = _bundle(
        "transaction",
        _post(new, ifNoneExist=f"identifier={MRN}|0200"),
        {"request": {"method": "DELETE", "url": "Patient/t2"}},
    )
    result = client.post("/fhir", json=bundle, headers=FHIR_JSON).json()
    # The DELETE (second entry) runs before the POST: the conditional create no longer
    # finds t2 and creates a new Patient.
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "204 No Content"]
    assert client.get("/fhir/Patient/t2").status_code == 410
    read_deleted = _bundle(
        "transaction",
        {"request": {"method": "GET", "url": "Patient/t2"}},
    )
    assert client.post("/fhir", json=read_deleted, headers=FHIR_JSON).status_code == 410


def test_transaction_get_sees_writes(client: TestClient) -> None:
    bundle = _bundle(
        "transaction",
        {"request": {"method": "GET", "url": "Patient/t3"}},
        {"resource": patient("読", id="t3"), "request": {"method": "PUT", "url": "Patient/t3"}},
    )
    result = client.post("/fhir", json=bundle, headers=FHIR_JSON).json()
    assert result["entry"][0]["resource"]["name"][0]["family"] == "読"
    assert result["entry"][1]["response"]["status"] == "201 Created"


def test_transaction_conditional_create_and_reference(client: TestClient) -> None:
    existing = patient(identifier=[{"system": MRN, "value": "0100"}])
    pid = client.post("/fhir/Patient", json=existing, headers=FHIR_JSON).json()["id"]
    urn = "urn:uuid:0e7d1a52-3c9b-4d1e-8f7a-6b5c4d3e2f10"
    bundle = _bundle(
        "transaction",
        _post(existing, urn, ifNoneExist=f"identifier={MRN}|0100"),
        _post(_observation(urn)),
        _post(_observation(f"Patient?identifier={MRN}|0100")),
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"
    for entry in entries[1:]:
        path = entry["response"]["location"].split("testserver")[1].split("/_history")[0]
        assert client.get(path).json()["subject"]["reference"] == f"Patient/{pid}"
    dangling = _bundle("transaction", _post(_observation(f"Patient?identifier={MRN}|none")))
    assert client.post("/fhir", json=dangling, headers=FHIR_JSON).status_code == 404


def test_transaction_rejects_same_resource_twice(client: TestClient) -> None:
    put = {"resource": patient(id="t4"), "request": {"method": "PUT", "url": "Patient/t4"}}
    response = client.post("/fhir", json=_bundle("transaction", put, put), headers=FHIR_JSON)
    assert response.status_code == 400
    assert client.get("/fhir/Patient/t4").status_code == 404


def test_transaction_patch_entry(client: TestClient) -> None:
    client.put("/fhir/Patient/t5", json=patient(id="t5"), headers=FHIR_JSON)
    ops = orjson.dumps([{"op": "add", "path": "/gender", "value": "female"}])
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(ops).decode(),
    }
    bundle = _bundle(
        "transaction", {"resource": binary, "request": {"method": "PATCH", "url": "Patient/t5"}}
    )
    response = client.post(
        "/fhir", json=bundle, headers={**FHIR_JSON, "prefer": "return=representation"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["resource"]["gender"] == "female"
    assert client.get("/fhir/Patient/t5").json()["gender"] == "female"


def test_batch_entries_are_independent(client: TestClient) -> None:
    bundle = _bundle(
        "batch",
        _post(patient("成功")),
        {
            "resource": patient(id="b1"),
            "request": {"method": "PUT", "url": "Patient/b1", "ifMatch": 'W/"3"'},
        },
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"request": {"method": "GET"}},
        {"resource": patient(id="b2"), "request": {"method": "PUT", "url": "Patient/b2"}},
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200
    result = response.json()
    assert result["type"] == "batch-response"
    codes = [e["response"]["status"].split()[0] for e in result["entry"]]
    assert codes == ["201", "412", "404", "400", "201"]
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patient/b2").status_code == 200
    assert client.get("/fhir/Patient/b1").status_code == 404


def test_bundle_type_must_be_batch_or_transaction(client: TestClient) -> None:
    response = client.post("/fhir", json=_bundle("collection"), headers=FHIR_JSON)
    assert response.status_code == 400
    assert "collection" in response.json()["issue"][0]["diagnostics"]
    not_bundle = client.post("/fhir", json=patient(), headers=FHIR_JSON)
    assert not_bundle.status_code == 400


def test_empty_transaction(client: TestClient) -> None:
    response = client.post("/fhir", json=_bundle("transaction"), headers=FHIR_JSON)
    assert response.status_code == 200
    assert response.json()["type"] == "transaction-response"
