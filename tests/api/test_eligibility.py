"""Coverage/$eligibility over HTTP: validity codes, reasons, audit and the proposed Consent."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.roster_data import INSURER, NEW_INSURER, NEW_ROWS, roster_csv
from tests.auth_tokens import TokenFactory
from tsunagu.bootstrap import Platform
from tsunagu.fhir.outcomes import FhirError
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.operations.eligibility import consent_resource
from tsunagu.interactions.router import dispatch
from tsunagu.security.categories import Category
from tsunagu.security.principal import Principal, Role
from tsunagu.security.resource_categories import with_facility

FACILITY = "1318814790"
URL = "/fhir/Coverage/$eligibility"


def params(**values: str) -> dict[str, Any]:
    parameter = []
    for name, value in values.items():
        key = "valueDate" if name in ("birthDate", "date") else "valueString"
        parameter.append({"name": name, key: value})
    return {"resourceType": "Parameters", "parameter": parameter}


def load(client: TestClient, headers: dict[str, str] | None = None) -> None:
    for text in (roster_csv(), roster_csv(NEW_ROWS)):
        body = {"resourceType": "Parameters", "parameter": [{"name": "csv", "valueString": text}]}
        response = client.post("/fhir/Coverage/$import-roster", json=body, headers=headers or {})
        assert response.status_code == 200, response.text


def out(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = {}
    for p in response.json()["parameter"]:
        value = next(v for k, v in p.items() if k.startswith("value"))
        result.setdefault(p["name"], []).append(value)
    return result


def check(client: TestClient, **values: str) -> dict[str, Any]:
    values.setdefault("date", "2025-06-01")
    return out(client.post(URL, json=params(**values)))


def test_valid_answer_carries_the_insurance_facts(client: TestClient) -> None:
    load(client)
    result = check(
        client,
        insurerNumber=INSURER,
        symbol="１２－３４",
        number="５６７８",
        branch="00",
        birthDate="1980-05-17",
    )
    assert result["validity"][0]["code"] == "1"
    assert result["validity"][0]["display"] == "有効"
    assert "reason" not in result
    assert result["memberId"][0]["value"] == f"{INSURER}:12-34:5678:00"
    assert result["insurer"][0]["value"] == INSURER
    assert result["insurerName"] == ["つなぐ健康保険組合"]
    assert result["copayPercent"] == [30]
    assert result["limitCategory"][0]["code"] == "A03"
    assert result["period"] == [{"start": "2020-04-01"}]
    assert result["relationship"][0]["code"] == "1"
    patient = result["patient"][0]["reference"]
    assert client.get(f"/fhir/{patient}").json()["birthDate"] == "1980-05-17"
    coverage = client.get(f"/fhir/{result['coverage'][0]['reference']}").json()
    assert coverage["beneficiary"]["reference"] == patient


@pytest.mark.parametrize(
    ("values", "code", "reasons"),
    [
        ({"number": "5678", "branch": "05", "birthDate": "1980-05-17"}, "4", ["wrong-branch"]),
        (
            {"number": "5678", "branch": "00", "birthDate": "1980-05-18"},
            "4",
            ["birthdate-mismatch"],
        ),
        ({"number": "1111", "birthDate": "1980-05-17"}, "4", ["unknown"]),
        ({"number": "7777", "birthDate": "1990-10-10"}, "2", ["expired"]),
        ({"number": "9999", "birthDate": "1975-01-01"}, "3", ["lost", "superseded"]),
        # without 枝番 the birth date picks the family member
        ({"number": "5678", "birthDate": "1982-03-02"}, "1", []),
    ],
)
def test_codes_and_reasons(
    client: TestClient, values: dict[str, str], code: str, reasons: list[str]
) -> None:
    load(client)
    result = check(client, insurerNumber=INSURER, symbol="12-34", **values)
    assert result["validity"][0]["code"] == code
    assert [r["code"] for r in result.get("reason", [])] == reasons
    if code == "3":
        newer = client.get(f"/fhir/{result['newerCoverage'][0]['reference']}").json()
        assert newer["payor"][0]["identifier"]["value"] == NEW_INSURER
        assert result["reasonOfLoss"][0]["code"] == "03"


def test_member_id_input_and_the_date(client: TestClient) -> None:
    load(client)
    member = f"{INSURER}:12-34:9999:00"
    before = check(client, memberId=member, birthDate="1975-01-01", date="2024-03-31")
    assert before["validity"][0]["code"] == "1"
    after = check(client, memberId=member, birthDate="1975-01-01", date="2024-04-01")
    assert after["validity"][0]["code"] == "3"


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        (params(insurerNumber=INSURER, number="1"), 400, "Parameters.birthDate"),
        (
            params(insurerNumber="33120016", number="1", birthDate="2000-01-01"),
            400,
            "Parameters.insurerNumber",
        ),
        (params(memberId="1:2", birthDate="2000-01-01"), 400, "Parameters.memberId"),
        (params(memberId=f"{INSURER}::1:", birthDate="2000-13-01"), 400, "Parameters.birthDate"),
        ({"resourceType": "Patient"}, 400, None),
        (params(credential="x"), 401, "Parameters.credential"),
        (
            params(memberId=f"{INSURER}::1:", birthDate="2000-01-01", facility="123"),
            400,
            "Parameters.facility",
        ),
    ],
)
def test_bad_requests(
    client: TestClient, body: dict[str, Any], status: int, expression: str | None
) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == status
    issue = response.json()["issue"][0]
    assert " / " in issue["diagnostics"]
    if expression:
        assert issue["expression"] == [expression]
    assert "33120016" not in response.text


def test_only_on_coverage(client: TestClient) -> None:
    response = client.post("/fhir/Patient/$eligibility", json=params())
    assert response.status_code == 400


def consents(client: TestClient, patient: str) -> list[dict[str, Any]]:
    bundle = client.get(f"/fhir/Consent?patient={patient}").json()
    return [e["resource"] for e in bundle.get("entry", [])]


def test_a_valid_check_proposes_consent_once(client: TestClient) -> None:
    load(client)
    ask = {"memberId": f"{INSURER}:12-34:5678:00", "birthDate": "1980-05-17"}
    first = check(client, facility=FACILITY, **ask)
    patient = first["patient"][0]["reference"]
    check(client, facility=FACILITY, **ask)  # the same facility again: no second proposal
    check(client, facility="2712345678", **ask)  # another facility: its own
    found = consents(client, patient)
    assert len(found) == 2
    facilities = sorted(
        c["provision"]["actor"][0]["reference"]["identifier"]["value"] for c in found
    )
    assert facilities == ["1318814790", "2712345678"]
    consent = found[0]
    assert consent["status"] == "proposed"
    assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
    assert consent["category"][0]["coding"][0] == {"system": "http://loinc.org", "code": "59284-0"}
    assert consent["provision"]["type"] == "permit"
    assert consent["provision"]["period"]["start"] == "2025-06-01"
    # an invalid check proposes nothing
    lost = check(
        client, facility="0112345678", memberId=f"{INSURER}:12-34:7777:00", birthDate="1990-10-10"
    )
    assert lost["validity"][0]["code"] == "2"
    lost_patient = lost["patient"][0]["reference"]
    assert consents(client, lost_patient) == []


def test_with_authentication(
    secure_client: TestClient, auth: TokenFactory, secure_platform: Platform
) -> None:
    admin = auth.headers(Role.ADMINISTRATOR)
    load(secure_client, admin)
    ask = params(memberId=f"{INSURER}:12-34:5678:00", birthDate="1980-05-17", date="2025-06-01")
    doctor = auth.headers(Role.PHYSICIAN, facility=FACILITY)
    result = out(secure_client.post(URL, json=ask, headers=doctor))
    assert result["validity"][0]["code"] == "1"
    for role in (Role.PATIENT, Role.RESEARCHER, Role.MUNICIPAL):
        response = secure_client.post(URL, json=ask, headers=auth.headers(role))
        assert response.status_code == 403, role
    other = params(
        memberId=f"{INSURER}:12-34:5678:00", birthDate="1980-05-17", facility="2712345678"
    )
    assert secure_client.post(URL, json=other, headers=doctor).status_code == 403
    trail = secure_platform.audit_trail
    assert trail is not None
    trail.flush()
    events = json.dumps([event for _, event in trail.entries(after=0)], ensure_ascii=False)
    assert "$eligibility" in events
    assert "validity=1" in events


def test_a_patient_token_is_the_card_over_http(
    secure_client: TestClient, auth: TokenFactory
) -> None:
    admin = auth.headers(Role.ADMINISTRATOR)
    load(secure_client, admin)
    doctor = auth.headers(Role.PHYSICIAN, facility=FACILITY)
    ask = params(memberId=f"{INSURER}:12-34:5678:00", birthDate="1980-05-17", date="2025-06-01")
    patient = out(secure_client.post(URL, json=ask, headers=doctor))["patient"][0]["reference"]
    card = auth.headers(Role.PATIENT, facility=None, patient=patient.removeprefix("Patient/"))
    token = card["authorization"].removeprefix("Bearer ")
    by_card = out(
        secure_client.post(URL, json=params(credential=token, date="2025-06-01"), headers=doctor)
    )
    assert by_card["validity"][0]["code"] == "1"
    assert by_card["patient"][0]["reference"] == patient
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = secure_client.post(
        URL, json=params(credential=forged, date="2025-06-01"), headers=doctor
    )
    assert refused.status_code == 401
    assert refused.json()["issue"][0]["expression"] == ["Parameters.credential"]


def test_patient_credential(secure_platform: Platform, auth: TokenFactory) -> None:
    ctx = secure_platform.context("http://testserver/fhir")
    dispatch(
        ctx,
        FhirRequest(
            "POST",
            "Coverage/$import-roster",
            body={
                "resourceType": "Parameters",
                "parameter": [{"name": "csv", "valueString": roster_csv()}],
            },
        ),
    )
    answer = dispatch(
        ctx,
        FhirRequest(
            "POST",
            "Coverage/$eligibility",
            body=params(
                memberId=f"{INSURER}:12-34:5678:01", birthDate="1982-03-02", date="2025-06-01"
            ),
        ),
    ).resource
    assert answer is not None
    patient = next(
        p["valueReference"]["reference"] for p in answer["parameter"] if p["name"] == "patient"
    ).removeprefix("Patient/")

    def verify(token: str) -> Principal:
        if token != "card-of-hanako":
            raise ValueError("bad")
        return Principal(subject=patient, role=Role.PATIENT, client_id="card", patient=patient)

    ctx = secure_platform.context("http://testserver/fhir")
    ctx.principal = Principal(subject="dr", role=Role.PHYSICIAN, client_id="emr", facility=FACILITY)
    ctx.verify_credential = verify
    response = dispatch(
        ctx,
        FhirRequest(
            "POST",
            "Coverage/$eligibility",
            body=params(credential="card-of-hanako", date="2025-06-01"),
        ),
    )
    assert response.resource is not None
    found = {p["name"]: p for p in response.resource["parameter"]}
    assert found["validity"]["valueCoding"]["code"] == "1"
    assert found["memberId"]["valueIdentifier"]["value"] == f"{INSURER}:12-34:5678:01"
    assert any(r.subtype == "$eligibility" and r.patients == (patient,) for r in ctx.audit)
    with pytest.raises(FhirError) as caught:
        dispatch(
            ctx,
            FhirRequest(
                "POST", "Coverage/$eligibility", body=params(credential="forged", date="2025-06-01")
            ),
        )
    assert caught.value.status == 401


def test_the_proposed_consent_is_valid(secure_platform: Platform) -> None:
    # $eligibility writes it without validating again: it must be valid as built.
    ctx = secure_platform.context("http://testserver/fhir")
    assert ctx.validator is not None
    consent = with_facility(consent_resource("p1", FACILITY, date(2025, 6, 1)), FACILITY)
    issues = ctx.validator.validate(consent)
    assert [i for i in issues if i.severity in ("error", "fatal")] == []
    assert {c["coding"][0]["code"] for c in consent["provision"]["code"]} == {
        c.value for c in Category
    }
