"""Coverage/$import-roster over HTTP: CSV (UTF-8, Shift_JIS) and FHIR Bundles, all or nothing."""

from __future__ import annotations

import base64
from typing import Any

from starlette.testclient import TestClient

from tests.api.roster_data import INSURER, ROWS, roster_csv
from tests.auth_tokens import TokenFactory
from tsunagu.identity.coverage import CoverageFacts, coverage_resource
from tsunagu.identity.insurance import MEMBER_ID_SYSTEM, MemberId
from tsunagu.security.principal import Role

URL = "/fhir/Coverage/$import-roster"


def body(**values: Any) -> dict[str, Any]:
    parameter = []
    for name, value in values.items():
        key = {"csvBase64": "valueBase64Binary", "encoding": "valueCode", "bundle": "resource"}
        parameter.append({"name": name, key.get(name, "valueString"): value})
    return {"resourceType": "Parameters", "parameter": parameter}


def summary(response: Any) -> dict[str, int]:
    assert response.status_code == 200, response.text
    return {p["name"]: p["valueInteger"] for p in response.json()["parameter"]}


def total(client: TestClient, resource_type: str) -> int:
    found = client.get(f"/fhir/{resource_type}?_summary=count").json()
    return int(found["total"])


def test_csv_import_then_reimport(client: TestClient) -> None:
    assert summary(client.post(URL, json=body(csv=roster_csv()))) == {
        "rows": 4,
        "created": 4,
        "updated": 0,
    }
    assert (total(client, "Patient"), total(client, "Coverage")) == (4, 4)
    assert summary(client.post(URL, json=body(csv=roster_csv())))["updated"] == 4
    assert (total(client, "Patient"), total(client, "Coverage")) == (4, 4)
    found = client.get(
        "/fhir/Patient", params={"identifier": f"{MEMBER_ID_SYSTEM}|{INSURER}:12-34:5678:01"}
    ).json()
    assert found["entry"][0]["resource"]["name"][0]["family"] == "山田"


def test_shift_jis_upload(client: TestClient) -> None:
    data = base64.b64encode(roster_csv().encode("cp932")).decode()
    assert summary(client.post(URL, json=body(csvBase64=data)))["rows"] == 4
    explicit = body(csvBase64=data, encoding="cp932")
    assert summary(client.post(URL, json=explicit))["updated"] == 4


def test_errors_import_nothing_and_list_every_row(client: TestClient) -> None:
    broken = [
        ROWS[0],
        ROWS[1].replace("1982-03-02", "1982-02-30"),
        ROWS[2],
        ROWS[3].replace(INSURER, INSURER[:-1] + str((int(INSURER[-1]) + 1) % 10), 1),
    ]
    response = client.post(URL, json=body(csv=roster_csv(broken)))
    assert response.status_code == 422
    messages = [i["diagnostics"] for i in response.json()["issue"]]
    assert "2 件のエラー" in messages[0]
    assert messages[1].startswith("3 行目 birth_date:")
    assert messages[2].startswith("5 行目 insurer_number:")
    assert "山田" not in response.text
    assert "1982" not in response.text
    assert total(client, "Patient") == 0


def test_unreadable_files(client: TestClient) -> None:
    assert client.post(URL, json=body(csvBase64="@@@")).status_code == 400
    bad_header = client.post(URL, json=body(csv="a,b\n1,2\n"))
    assert bad_header.status_code == 422
    assert "required columns missing" in bad_header.text
    sjis_as_utf8 = base64.b64encode(roster_csv().encode("cp932")).decode()
    wrong = client.post(URL, json=body(csvBase64=sjis_as_utf8, encoding="utf-8"))
    assert wrong.status_code == 422
    assert client.post(URL, json=body()).status_code == 400
    assert client.post("/fhir/Patient/$import-roster", json=body(csv="")).status_code == 400


def coverage_entry(number: str, full_url: str, **changes: Any) -> dict[str, Any]:
    facts = CoverageFacts(member=MemberId.of(INSURER, "", number, "00"), beneficiary=full_url)
    resource = {**coverage_resource(facts), **changes}
    return {"resource": resource}


def test_bundle_import(client: TestClient) -> None:
    member = MemberId.of(INSURER, "", "42", "00")
    full_url = "urn:uuid:6a3e4a52-0c6b-4f44-9f0e-1b1f2e3d4c5b"
    patient = {
        "fullUrl": full_url,
        "resource": {
            "resourceType": "Patient",
            "identifier": [member.identifier()],
            "birthDate": "2001-02-03",
        },
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [patient, coverage_entry("42", full_url)],
    }
    assert summary(client.post(URL, json=body(bundle=bundle))) == {
        "rows": 1,
        "created": 1,
        "updated": 0,
    }
    assert summary(client.post(URL, json=body(bundle=bundle)))["updated"] == 1
    coverage = client.get("/fhir/Coverage").json()["entry"][0]["resource"]
    assert coverage["beneficiary"]["reference"].startswith("Patient/")
    assert total(client, "Patient") == 1


def test_bundle_errors_name_the_entry(client: TestClient) -> None:
    bad = coverage_entry("43", "Patient/x")
    bad["resource"]["identifier"][0]["value"] = f"{INSURER[:-1]}0:x:43:00"
    if INSURER.endswith("0"):
        bad["resource"]["identifier"][0]["value"] = f"{INSURER[:-1]}1:x:43:00"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Observation"}}, bad],
    }
    response = client.post(URL, json=body(bundle=bundle))
    assert response.status_code == 422
    expressions = [e for i in response.json()["issue"] for e in i.get("expression", [])]
    assert expressions == [
        "Bundle.entry[0].resource",
        "Bundle.entry[1].resource.identifier[0].value",
    ]
    assert total(client, "Coverage") == 0


def test_only_administrators_and_systems(secure_client: TestClient, auth: TokenFactory) -> None:
    request = body(csv=roster_csv())
    doctor = secure_client.post(URL, json=request, headers=auth.headers(Role.PHYSICIAN))
    assert doctor.status_code == 403
    system = secure_client.post(URL, json=request, headers=auth.headers(Role.SYSTEM))
    assert summary(system)["created"] == 4


def test_one_person_with_two_cards_in_one_file_is_one_patient(client: TestClient) -> None:
    rows = [ROWS[2], ROWS[2].replace(",9999,", ",9998,").replace("2015-04-01", "2024-04-01")]
    rows[1] = rows[1].replace("2024-03-31,30,,,,,03", ",30,,,,,")
    assert summary(client.post(URL, json=body(csv=roster_csv(rows))))["created"] == 2
    assert (total(client, "Patient"), total(client, "Coverage")) == (1, 2)


def test_an_ambiguous_existing_patient_fails_the_whole_import(client: TestClient) -> None:
    member = f"{INSURER}:12-34:5678:00"
    twin = {
        "resourceType": "Patient",
        "identifier": [{"system": MEMBER_ID_SYSTEM, "value": member}],
    }
    for _ in range(2):
        assert client.post("/fhir/Patient", json=twin).status_code == 201
    response = client.post(URL, json=body(csv=roster_csv()))
    assert response.status_code == 412
    assert total(client, "Coverage") == 0
