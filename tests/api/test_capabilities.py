"""The CapabilityStatement, and the server's behaviour outside development mode."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from tsunagu.bootstrap import build_platform
from tsunagu.fhir.definitions import load_definitions
from tsunagu.http.app import create_app
from tsunagu.settings import Settings


def test_metadata_lists_every_type_and_interaction(client: TestClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    types = {r["type"] for r in rest["resource"]}
    assert types == load_definitions().resource_types
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient["interaction"]}
    assert codes == {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    }
    assert {i["code"] for i in rest["interaction"]} == {
        "transaction",
        "batch",
        "history-system",
        "search-system",
    }
    search_params = {p["name"]: p["type"] for p in patient["searchParam"]}
    assert search_params["birthdate"] == "date"
    assert search_params["name"] == "string"
    assert search_params["_lastUpdated"] == "date"
    assert "Observation:subject" in patient["searchRevInclude"]
    assert {op["name"] for op in patient["operation"]} >= {"everything", "validate"}
    assert {op["name"] for op in rest["operation"]} == {"reindex", "disaster-status"}
    assert "application/json-patch+json" in statement["patchFormat"]


def test_authentication_is_required_outside_dev_mode(tmp_path: Path) -> None:
    platform = build_platform(Settings(database_url=f"sqlite:///{tmp_path}/a.db"))
    with TestClient(create_app(platform)) as client:
        assert client.get("/fhir/metadata").status_code == 200
        denied = client.get("/fhir/Patient/1")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert denied.json()["issue"][0]["code"] == "login"
        write = client.post("/fhir/Patient", json={"resourceType": "Patient"})
        assert write.status_code == 401
        assert platform.repository.count("Patient") == 0  # only the denials' AuditEvents


def test_landing_page_points_to_fhir(client: TestClient) -> None:
    body = client.get("/").json()
    assert body["metadata"].endswith("/fhir/metadata")
