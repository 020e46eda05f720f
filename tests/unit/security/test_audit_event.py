"""AuditRecord + principal → BALP-shaped AuditEvents, pure."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from tsunagu.security.audit import AuditRecord
from tsunagu.security.audit_event import (
    ANONYMOUS,
    FACILITY,
    UNAUTHENTICATED,
    Observer,
    RequestFacts,
    audit_events,
    outcome_code,
)
from tsunagu.security.principal import Principal, Role

NOW = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
FACTS = RequestFacts(NOW, "10.0.0.7")
PHYSICIAN = Principal(
    subject="dr-1",
    role=Role.PHYSICIAN,
    client_id="emr-a",
    facility="1312345678",
    scopes=("user/*.rs",),
    token_id="jti-1",
)


def _one(record: AuditRecord, principal: Principal | None = PHYSICIAN) -> dict[str, Any]:
    events = audit_events(record, principal, FACTS, Observer())
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize(
    ("status", "code"), [(200, "0"), (304, "0"), (403, "4"), (404, "4"), (500, "8"), (503, "12")]
)
def test_outcome_codes(status: int, code: str) -> None:
    assert outcome_code(status) == code


def test_a_read_has_type_subtype_action_outcome_and_time() -> None:
    event = _one(AuditRecord("R", "read", 200, ("p1",), ("Observation/o1/_history/2",)))
    assert event["resourceType"] == "AuditEvent"
    assert event["type"]["code"] == "rest"
    assert event["subtype"] == [
        {"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}
    ]
    assert event["action"] == "R"
    assert event["outcome"] == "0"
    assert event["recorded"].startswith("2025-04-01T09:30:00")
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"


def test_agents_are_identifiers_role_facility_and_token() -> None:
    event = _one(AuditRecord("R", "read", 200))
    user, client, facility = event["agent"]
    assert user["requestor"] is True
    assert user["who"] == {
        "identifier": {"system": "http://tsunagu.jp/fhir/NamingSystem/subject", "value": "dr-1"}
    }
    assert user["role"][0]["coding"][0]["code"] == "physician"
    assert user["policy"] == ["jti-1"]
    assert user["network"]["address"] == "10.0.0.7"
    assert client["who"]["identifier"]["value"] == "emr-a"
    assert client["requestor"] is False
    assert facility["who"]["identifier"] == {"system": FACILITY, "value": "1312345678"}
    assert facility["who"]["type"] == "Organization"


def test_entities_patient_resource_and_query() -> None:
    query = "name=山田&birthdate=1970-01-01"
    record = AuditRecord(
        "R", "search-type", 200, ("p1",), ("Observation/o1",), resource_type="Patient", query=query
    )
    event = _one(record)
    patient, resource, search = event["entity"]
    assert patient["what"] == {"reference": "Patient/p1"}
    assert patient["role"]["code"] == "1"
    assert resource["what"] == {"reference": "Observation/o1"}
    assert search["role"]["code"] == "24"
    assert base64.b64decode(search["query"]).decode() == query
    assert "山田" not in str(event).replace(search["query"], "")


def test_one_event_per_patient_each_naming_only_its_patient() -> None:
    events = audit_events(
        AuditRecord("R", "search-type", 200, ("p2", "p1", "p2")), PHYSICIAN, FACTS, Observer()
    )
    patients = [[e["what"]["reference"] for e in event["entity"]] for event in events]
    assert patients == [["Patient/p1"], ["Patient/p2"]]


def test_insecure_dev_agent_is_anonymous() -> None:
    event = _one(AuditRecord("R", "read", 200), principal=None)
    assert event["agent"][0]["who"]["display"] == ANONYMOUS


def test_a_401_without_principal_is_unauthenticated() -> None:
    facts = RequestFacts(NOW, None, unauthenticated=True)
    event = audit_events(AuditRecord("E", "authenticate", 401), None, facts, Observer())[0]
    assert event["agent"][0]["who"]["display"] == UNAUTHENTICATED
    assert event["type"]["code"] == "110114"
    assert event["outcome"] == "4"
    assert "network" not in event["agent"][0]


def test_patient_token_agent_is_the_patient_with_patient_purpose() -> None:
    me = Principal(subject="p1", role=Role.PATIENT, client_id="app", patient="p1")
    event = _one(AuditRecord("R", "search-type", 200, ("p1",)), principal=me)
    assert event["agent"][0]["who"] == {"reference": "Patient/p1"}
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "PATRQT"


def test_break_glass_purpose_and_operation_subtype() -> None:
    event = _one(AuditRecord("E", "$everything", 200, ("p1",), purpose="ETREAT"))
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    codes = [coding["code"] for coding in event["subtype"]]
    assert codes == ["operation", "$everything"]
