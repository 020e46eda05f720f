"""An AuditRecord, who asked and when → FHIR R4 AuditEvents, after IHE BALP.

One AuditEvent per patient concerned (BALP's rule, so that a patient listing their own
events never sees another patient's id), or one without a patient entity when none is.
Agents are identifiers only (subject, client, facility code), never names. The search query
goes into `entity.query` (base64) as BALP does: it may hold personal data and stays in the
protected audit store.
See: https://hl7.org/fhir/R4/auditevent.html, https://profiles.ihe.net/ITI/BALP/
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tsunagu.fhir.datatypes import format_instant
from tsunagu.security.audit import AuditRecord
from tsunagu.security.principal import Principal, Role
from tsunagu.security.resource_categories import with_facility

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
FACILITY = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
TSUNAGU_ROLE = "http://tsunagu.jp/fhir/CodeSystem/role"
TSUNAGU_OPERATION = "http://tsunagu.jp/fhir/CodeSystem/operation"
TSUNAGU_EVENT = "http://tsunagu.jp/fhir/CodeSystem/audit-subtype"
SUBJECT = "http://tsunagu.jp/fhir/NamingSystem/subject"
CLIENT = "http://tsunagu.jp/fhir/NamingSystem/client"
ANONYMOUS = "anonymous (insecure-dev)"
UNAUTHENTICATED = "unauthenticated"

# The restful-interaction codes (R4 value set) a subtype may be.
INTERACTIONS = frozenset(
    {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history",
        "history-instance",
        "history-type",
        "history-system",
        "create",
        "search",
        "search-type",
        "search-system",
        "capabilities",
        "transaction",
        "batch",
        "operation",
    }
)
# Security events that are not REST interactions: DICOM "User Authenticated".
AUTHENTICATION = frozenset({"authenticate", "authorize", "token", "login", "logout"})
# Purpose of use when the record names none, by role (v3 PurposeOfUse codes).
DEFAULT_PURPOSE = {
    Role.PATIENT: "PATRQT",
    Role.RESEARCHER: "HRESCH",
    Role.MUNICIPAL: "PUBHLTH",
    Role.ADMINISTRATOR: "HOPERAT",
}


@dataclass(frozen=True)
class Observer:
    """This server, as AuditEvent.source describes it."""

    site: str = "tsunagu"
    name: str = "Tsunagu FHIR server"


@dataclass(frozen=True)
class RequestFacts:
    """What the request tells beyond the record: when, from where, and whether the caller
    was refused before authenticating (then `principal` is None and the agent is
    "unauthenticated", not the insecure-dev anonymous user)."""

    recorded: datetime
    address: str | None = None
    unauthenticated: bool = False


def outcome_code(status: int) -> str:
    """AuditEvent.outcome from an HTTP status: 0 success, 4 minor (client) failure,
    8 serious (server) failure, 12 major failure (the service is unavailable)."""
    if status < 400:
        return "0"
    if status < 500:
        return "4"
    return "12" if status == 503 else "8"


def audit_events(
    record: AuditRecord, principal: Principal | None, facts: RequestFacts, observer: Observer
) -> list[dict[str, Any]]:
    """The AuditEvents of one record: one per patient, or one when no patient is concerned."""
    patients: list[str | None] = [*sorted(set(record.patients))] or [None]
    return [audit_event(record, principal, facts, observer, patient) for patient in patients]


def audit_event(
    record: AuditRecord,
    principal: Principal | None,
    facts: RequestFacts,
    observer: Observer,
    patient: str | None,
) -> dict[str, Any]:
    """One AuditEvent (without id and meta: the store assigns them)."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _type(record.subtype),
        "subtype": _subtype(record.subtype),
        "action": record.action,
        "recorded": format_instant(facts.recorded),
        "outcome": outcome_code(record.outcome),
        "outcomeDesc": _outcome_desc(record),
        "purposeOfEvent": [
            {"coding": [{"system": ACT_REASON, "code": _purpose(record, principal)}]}
        ],
        "agent": _agents(principal, facts),
        "source": {
            "site": observer.site,
            "observer": {"display": observer.name},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
    }
    entities = _entities(record, patient)
    if entities:
        event["entity"] = entities
    if principal is not None and principal.facility:
        # Owned by the facility that acted, so its administrators can review their own
        # staff's accesses (the patient sees theirs through the patient entity).
        return with_facility(event, principal.facility)
    return event


def _type(subtype: str) -> dict[str, str]:
    if subtype in AUTHENTICATION:
        return {"system": DICOM, "code": "110114", "display": "User Authenticated"}
    return {"system": AUDIT_TYPE, "code": "rest", "display": "Restful Operation"}


def _subtype(subtype: str) -> list[dict[str, str]]:
    if subtype.startswith("$"):
        return [
            {"system": INTERACTION, "code": "operation"},
            {"system": TSUNAGU_OPERATION, "code": subtype},
        ]
    if subtype in INTERACTIONS:
        return [{"system": INTERACTION, "code": subtype}]
    return [{"system": TSUNAGU_EVENT, "code": subtype}]


def _outcome_desc(record: AuditRecord) -> str:
    text = f"HTTP {record.outcome}"
    return f"{text}: {record.detail[:200]}" if record.detail else text


def _purpose(record: AuditRecord, principal: Principal | None) -> str:
    if record.purpose:
        return record.purpose
    if principal is None:
        return "TREAT"
    return DEFAULT_PURPOSE.get(principal.role, "TREAT")


def _agents(principal: Principal | None, facts: RequestFacts) -> list[dict[str, Any]]:
    network = _network(facts.address)
    if principal is None:
        label = UNAUTHENTICATED if facts.unauthenticated else ANONYMOUS
        user: dict[str, Any] = {
            "type": _coding(SECURITY_ROLE, "humanuser", "human user"),
            "who": {"identifier": {"system": SUBJECT, "value": label}, "display": label},
            "requestor": True,
            **network,
        }
        return [user]
    role = {"coding": [{"system": TSUNAGU_ROLE, "code": str(principal.role)}]}
    if principal.role is Role.PATIENT and principal.patient:
        who: dict[str, Any] = {"reference": f"Patient/{principal.patient}"}
    else:
        who = {"identifier": {"system": SUBJECT, "value": principal.subject}}
    kind = "datacollector" if principal.role is Role.SYSTEM else "humanuser"
    user = {
        "type": _coding(SECURITY_ROLE, kind, None),
        "role": [role],
        "who": who,
        "requestor": True,
        **network,
    }
    if principal.token_id:
        user["policy"] = [principal.token_id]
    agents = [user]
    if principal.client_id and principal.client_id != principal.subject:
        agents.append(
            {
                "type": _coding(DICOM, "110150", "Application"),
                "who": {"identifier": {"system": CLIENT, "value": principal.client_id}},
                "requestor": False,
            }
        )
    if principal.facility:
        agents.append(
            {
                "type": _coding(ROLE_CLASS, "PROV", "healthcare provider"),
                "who": {
                    "type": "Organization",
                    "identifier": {"system": FACILITY, "value": principal.facility},
                },
                "requestor": False,
            }
        )
    return agents


def _network(address: str | None) -> dict[str, Any]:
    if not address:
        return {}
    return {"network": {"address": address[:64], "type": "2"}}  # 2: IP address


def _coding(system: str, code: str, display: str | None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _entities(record: AuditRecord, patient: str | None) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if patient is not None:
        entities.append(
            {
                "what": {"reference": f"Patient/{patient}"},
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    for reference in record.entities:
        if patient is not None and reference.split("/_history", 1)[0] == f"Patient/{patient}":
            continue  # already there, as the patient
        entities.append(
            {
                "what": {"reference": reference},
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
            }
        )
    if record.query is not None:
        query: dict[str, Any] = {
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
            "query": base64.b64encode(record.query.encode("utf-8")).decode("ascii"),
        }
        if record.resource_type:
            query["description"] = record.resource_type
        entities.append(query)
    return entities
