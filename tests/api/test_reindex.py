"""Custom SearchParameters take effect after $reindex, for old and new resources."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient

KANA = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
CUSTOM = {
    "resourceType": "SearchParameter",
    "id": "patient-nickname",
    "url": "urn:tsunagu:test/SearchParameter/patient-nickname",
    "name": "nickname",
    "status": "active",
    "description": "愛称 / nickname",
    "code": "nickname",
    "base": ["Patient"],
    "type": "string",
    "expression": "Patient.name.where(use = 'nickname').given",
}


def _ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/fhir/Patient?{query}")
    assert response.status_code == 200, response.text
    return sorted(e["resource"]["id"] for e in response.json().get("entry", []))


def test_custom_parameter_after_reindex(client: TestClient) -> None:
    nick = patient(id="n1", name=[{"use": "nickname", "given": ["タロちゃん"]}])
    assert client.put("/fhir/Patient/n1", json=nick, headers=FHIR_JSON).status_code == 201
    unknown = client.get("/fhir/Patient?nickname=タロ", headers={"prefer": "handling=strict"})
    assert unknown.status_code == 400
    sp = client.put("/fhir/SearchParameter/patient-nickname", json=CUSTOM, headers=FHIR_JSON)
    assert sp.status_code == 201
    response = client.post("/fhir/$reindex")
    assert response.status_code == 200
    counted = response.json()["parameter"][0]["valueInteger"]
    assert counted >= 2  # the patient and the SearchParameter itself
    assert _ids(client, "nickname=たろ") == ["n1"]
    later = patient(id="n2", name=[{"use": "nickname", "given": ["タロウくん"]}])
    client.put("/fhir/Patient/n2", json=later, headers=FHIR_JSON)
    assert _ids(client, "nickname=タロ") == ["n1", "n2"]
    metadata = client.get("/fhir/metadata").json()
    patient_caps = next(r for r in metadata["rest"][0]["resource"] if r["type"] == "Patient")
    assert "nickname" in {p["name"] for p in patient_caps["searchParam"]}


def test_unusable_custom_parameter_is_refused(client: TestClient) -> None:
    # Valid R4 (it can be stored), but its expression does not compile.
    broken = {**CUSTOM, "id": "broken", "expression": "Patient.name.where("}
    client.put("/fhir/SearchParameter/broken", json=broken, headers=FHIR_JSON)
    response = client.post("/fhir/$reindex")
    assert response.status_code == 400
    assert "SearchParameter/broken" in response.json()["issue"][0]["diagnostics"]
