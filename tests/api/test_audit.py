"""Every request leaves exactly the expected AuditEvents, and the trail is tamper-evident.

A scripted sequence of requests (create, read, search, update, transaction, delete,
$everything, a 401, a refused access, a token request) runs against a server with
authentication on; the AuditEvents appended to the chain are then compared one by one with
what each request should have left.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, observation, patient
from tests.auth_tokens import DEFAULT_FACILITY, TokenFactory
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.http.app import create_app
from tsunagu.security.audit_event import ANONYMOUS, FACILITY, UNAUTHENTICATED
from tsunagu.settings import Settings
from tsunagu.storage.audit import AuditTrail

INTERACTION = "http://hl7.org/fhir/restful-interaction"


class Trail:
    """The AuditEvents appended since the last look."""

    def __init__(self, platform: Platform) -> None:
        assert platform.audit_trail is not None
        self.store: AuditTrail = platform.audit_trail
        self.seen = 0

    def new(self) -> list[dict[str, Any]]:
        self.store.flush()
        found = self.store.entries(after=self.seen)
        if found:
            self.seen = found[-1][0]
        return [event for _, event in found]


def _summary(event: dict[str, Any]) -> tuple[str, str, str, tuple[str, ...]]:
    """(action, subtype, outcome, patients) of an AuditEvent."""
    subtypes = [c["code"] for c in event["subtype"]]
    subtype = subtypes[-1]
    patients = tuple(
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "1"
    )
    return event["action"], subtype, event["outcome"], patients


def _objects(event: dict[str, Any]) -> list[str]:
    """The domain resources an AuditEvent names (entity role 4)."""
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "4"
    ]


def _agent(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(role, facility) of an AuditEvent's agents."""
    role = facility = None
    for agent in event["agent"]:
        for r in agent.get("role", []):
            role = r["coding"][0]["code"]
        identifier = agent.get("who", {}).get("identifier", {})
        if identifier.get("system") == FACILITY:
            facility = identifier["value"]
    return role, facility


def _query(event: dict[str, Any]) -> str | None:
    for entity in event.get("entity", []):
        if entity.get("role", {}).get("code") == "24":
            return base64.b64decode(entity["query"]).decode()
    return None


@pytest.fixture
def trail(secure_platform: Platform) -> Trail:
    return Trail(secure_platform)


def test_a_scripted_session_leaves_exactly_the_expected_events(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    doctor = {**auth.headers("physician"), **FHIR_JSON}
    c = secure_client

    pid = c.post("/fhir/Patient", json=patient(), headers=doctor).json()["id"]
    me = f"Patient/{pid}"
    assert [_summary(e) for e in trail.new()] == [("C", "create", "0", (me,))]

    assert c.get(f"/fhir/{me}", headers=doctor).status_code == 200
    [event] = trail.new()
    assert _summary(event) == ("R", "read", "0", (me,))
    assert _agent(event) == ("physician", DEFAULT_FACILITY)
    assert {"reference": f"{me}/_history/1"} not in [e.get("what") for e in event["entity"]]

    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "体温"},
        "subject": {"reference": me},
    }
    oid = c.post("/fhir/Observation", json=observation, headers=doctor).json()["id"]
    [event] = trail.new()
    assert _summary(event) == ("C", "create", "0", (me,))
    what = [e.get("what", {}).get("reference") for e in event["entity"]]
    assert f"Observation/{oid}/_history/1" in what

    found = c.get(f"/fhir/Observation?patient={pid}&code:text=体温", headers=doctor)
    assert found.status_code == 200
    [event] = trail.new()
    assert _summary(event) == ("R", "search-type", "0", (me,))
    assert f"patient={pid}" in (_query(event) or "")

    updated = {**observation, "id": oid, "status": "amended"}
    assert c.put(f"/fhir/Observation/{oid}", json=updated, headers=doctor).status_code == 200
    assert [_summary(e) for e in trail.new()] == [("U", "update", "0", (me,))]

    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**observation, "code": {"text": "脈拍"}},
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": {
                    "resourceType": "AllergyIntolerance",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "allergyintolerance-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "patient": {"reference": me},
                    "code": {"text": "そば"},
                },
                "request": {"method": "POST", "url": "AllergyIntolerance"},
            },
        ],
    }
    written = c.post("/fhir", json=transaction, headers=doctor)
    assert written.status_code == 200
    # One event for the patient's two creates, listing both versions, and the Bundle's own.
    created, bundle_event = trail.new()
    assert [_summary(created), _summary(bundle_event)] == [
        ("C", "create", "0", (me,)),
        ("E", "transaction", "0", ()),
    ]
    locations = [e["response"]["location"].split("/fhir/")[1] for e in written.json()["entry"]]
    assert _objects(created) == locations

    assert c.delete(f"/fhir/Observation/{oid}", headers=doctor).status_code == 204
    assert [_summary(e) for e in trail.new()] == [("D", "delete", "0", (me,))]

    assert c.get(f"/fhir/{me}/$everything", headers=doctor).status_code == 200
    assert [_summary(e) for e in trail.new()] == [("E", "$everything", "0", (me,))]

    assert c.get(f"/fhir/{me}").status_code == 401
    [event] = trail.new()
    assert event["outcome"] == "4"
    assert event["agent"][0]["who"]["display"] == UNAUTHENTICATED
    assert "401" in event["outcomeDesc"]

    assert c.post("/auth/token", data={"grant_type": "nonsense"}).status_code >= 400
    [event] = trail.new()
    assert event["type"]["code"] == "110114"  # DICOM "User Authenticated"
    assert event["outcome"] == "4"


def test_a_refused_read_is_recorded_with_the_patient_it_concerned(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    doctor = {**auth.headers("physician"), **FHIR_JSON}
    pid = secure_client.post("/fhir/Patient", json=patient(), headers=doctor).json()["id"]
    trail.new()
    other = auth.headers("patient", facility=None, patient="someone-else")
    refused = secure_client.get(f"/fhir/Patient/{pid}", headers=other)
    assert refused.status_code in (403, 404)
    [event] = trail.new()
    assert _summary(event) == ("R", "read", "4", (f"Patient/{pid}",))
    assert event["agent"][0]["who"] == {"reference": "Patient/someone-else"}


def test_a_failed_write_is_recorded_after_its_rollback(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    doctor = {**auth.headers("physician"), **FHIR_JSON}
    bad = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": "Patient/does-not-exist"}},
        ],
    }
    response = secure_client.post("/fhir", json=bad, headers=doctor)
    assert response.status_code == 404
    summaries = sorted(_summary(e) for e in trail.new())
    # The create was rolled back with its event; the failing entry and the transaction stay.
    assert summaries == [
        ("D", "delete", "4", ("Patient/does-not-exist",)),
        ("E", "transaction", "4", ()),
    ]


def test_audit_events_cannot_be_written_through_the_api(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    admin = {**auth.headers("administrator"), **FHIR_JSON}
    secure_client.get("/fhir/Patient", headers=admin)
    [existing] = trail.new()
    forged = {"resourceType": "AuditEvent", "id": "forged", "recorded": "2020-01-01T00:00:00Z"}
    attempts = [
        secure_client.post("/fhir/AuditEvent", json=forged, headers=admin),
        secure_client.put("/fhir/AuditEvent/forged", json=forged, headers=admin),
        secure_client.delete("/fhir/AuditEvent?action=R", headers=admin),
    ]
    assert [a.status_code for a in attempts] == [405, 405, 405]
    assert all(a.headers["allow"] == "GET" for a in attempts)
    assert [_summary(e)[2] for e in trail.new()] == ["4", "4", "4"]
    assert trail.store.verify().ok
    assert existing["resourceType"] == "AuditEvent"


def test_the_patient_finds_who_accessed_their_data(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    doctor = {**auth.headers("physician"), **FHIR_JSON}
    pid = secure_client.post("/fhir/Patient", json=patient(), headers=doctor).json()["id"]
    secure_client.get(f"/fhir/Patient/{pid}", headers=doctor)
    assert trail.new()  # committed (reads answer before their events are stored)
    mine = auth.headers("patient", facility=None, patient=pid)
    listed = secure_client.get(f"/fhir/AuditEvent?patient=Patient/{pid}", headers=mine)
    assert listed.status_code == 200
    events = [e["resource"] for e in listed.json().get("entry", [])]
    summaries = sorted((_summary(e)[:2], _agent(e)) for e in events)
    assert summaries == [
        (("C", "create"), ("physician", DEFAULT_FACILITY)),
        (("R", "read"), ("physician", DEFAULT_FACILITY)),
    ]


def test_a_search_is_recorded_for_every_patient_of_its_results(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    # The patients come from the access facts stored with each resource when they name one
    # patient alone, and from the resource itself otherwise (here: the shared Observation).
    doctor = {**auth.headers("physician"), **FHIR_JSON}
    a, b, c = (
        secure_client.post("/fhir/Patient", json=patient(n), headers=doctor).json()["id"]
        for n in ("一", "二", "三")
    )

    for body in (observation(a), observation(b, c)):
        assert secure_client.post("/fhir/Observation", json=body, headers=doctor).status_code == 201
    trail.new()
    for shaping in ("", "&_elements=status", "&_summary=true"):
        found = secure_client.get(f"/fhir/Observation?code:text=監査{shaping}", headers=doctor)
        assert found.status_code == 200
        assert len(found.json()["entry"]) == 2
        named = sorted(p for e in trail.new() for p in _summary(e)[3])
        assert named == sorted(f"Patient/{p}" for p in (a, b, c)), shaping
    included = secure_client.get(
        f"/fhir/Patient?_id={a}&_revinclude=Observation:subject", headers=doctor
    )
    assert len(included.json()["entry"]) == 2
    assert [p for e in trail.new() for p in _summary(e)[3]] == [f"Patient/{a}"]


@pytest.fixture
def dev_client(database_url: str) -> Iterator[tuple[TestClient, Platform]]:
    platform = build_platform(Settings(database_url=database_url, insecure_dev=True))
    with TestClient(create_app(platform)) as client:
        yield client, platform


def test_insecure_dev_is_audited_as_anonymous(dev_client: tuple[TestClient, Platform]) -> None:
    client, platform = dev_client
    trail = Trail(platform)
    pid = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    client.get(f"/fhir/Patient?_id={pid}")
    events = trail.new()
    assert [_summary(e) for e in events] == [
        ("C", "create", "0", (f"Patient/{pid}",)),
        ("R", "search-type", "0", (f"Patient/{pid}",)),
    ]
    assert all(e["agent"][0]["who"]["display"] == ANONYMOUS for e in events)
    assert trail.store.verify().ok


def test_searches_with_elements_still_name_the_patient(
    dev_client: tuple[TestClient, Platform],
) -> None:
    client, platform = dev_client
    pid = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient/{pid}"},
    }
    client.post("/fhir/Observation", json=observation, headers=FHIR_JSON)
    trail = Trail(platform)
    trail.new()  # the two creates
    assert client.get("/fhir/Observation?_elements=status").status_code == 200
    [event] = trail.new()
    assert _summary(event) == ("R", "search-type", "0", (f"Patient/{pid}",))


def test_a_body_refused_before_any_interaction_is_recorded(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    doctor = {**auth.headers("physician"), **FHIR_JSON}
    refused = secure_client.post("/fhir/Patient", content=b'{"resourceType": ', headers=doctor)
    assert refused.status_code == 400
    [event] = trail.new()
    assert _summary(event) == ("C", "create", "4", ())
    assert _agent(event) == ("physician", DEFAULT_FACILITY)


def test_break_glass_is_one_event_with_emergency_purpose(
    secure_client: TestClient, auth: TokenFactory, trail: Trail
) -> None:
    doctor = {**auth.headers("physician"), **FHIR_JSON}
    pid = secure_client.post("/fhir/Patient", json=patient(), headers=doctor).json()["id"]
    trail.new()
    paramedic = {**auth.headers("emergency", facility="2710000008"), **FHIR_JSON}
    reason = {
        "resourceType": "Parameters",
        "parameter": [{"name": "reason", "valueString": "意識不明で搬送中 / unconscious"}],
    }
    opened = secure_client.post(f"/fhir/Patient/{pid}/$break-glass", json=reason, headers=paramedic)
    assert opened.status_code == 200, opened.text
    [event] = trail.new()
    assert _summary(event) == ("E", "$break-glass", "0", (f"Patient/{pid}",))
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert _agent(event) == ("emergency", "2710000008")


def test_reading_the_audit_log_inside_a_transaction_does_not_block(
    dev_client: tuple[TestClient, Platform],
) -> None:
    client, platform = dev_client
    trail = Trail(platform)
    client.get("/fhir/Patient")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "AuditEvent?action=R"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200
    listed = response.json()["entry"][1]["resource"]
    assert listed["resourceType"] == "Bundle"
    summaries = sorted(_summary(e)[:2] for e in trail.new())
    assert summaries == [
        ("C", "create"),
        ("E", "transaction"),
        ("R", "search-type"),
        ("R", "search-type"),
    ]
