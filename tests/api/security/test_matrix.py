"""The authorisation matrix: role x category x consent state x interaction, over HTTP.

Facility A wrote every resource; the caller is facility B (or, for the patient role, the
patient the resource is about). Each cell is asserted against the expected table below,
written independently of the implementation: allowed, or 403 / 404 with an
OperationOutcome (404 when the caller may read the type but not this resource, so hidden
resources look missing).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.security.conftest import CATEGORIES, STATES, TYPE_OF, World, clinical
from tsunagu.security.principal import Role

ALL = frozenset(CATEGORIES)
EMERGENCY_SUMMARY = frozenset(
    {"allergies", "contraindications", "diagnoses", "prescriptions", "infections"}
)
# Categories each role reads (of another facility, under consent; the patient: its own).
READS: dict[Role, frozenset[str]] = {
    Role.PHYSICIAN: ALL,
    Role.DENTIST: ALL,
    Role.SYSTEM: ALL,
    Role.NURSE: ALL,
    Role.PHARMACIST: frozenset({"prescriptions", "allergies", "contraindications", "labs"}),
    Role.EMERGENCY: EMERGENCY_SUMMARY,
    Role.MUNICIPAL: frozenset(),
    Role.RESEARCHER: frozenset(),
    Role.ADMINISTRATOR: frozenset(),
    Role.PATIENT: ALL,
}
# Categories each role may create, update, delete (as the author / owner).
CREATES: dict[Role, frozenset[str]] = {
    Role.PHYSICIAN: ALL,
    Role.DENTIST: ALL,
    Role.SYSTEM: ALL,
    Role.NURSE: frozenset({"labs"}),
}
DELETES: dict[Role, frozenset[str]] = {Role.PHYSICIAN: ALL, Role.DENTIST: ALL, Role.SYSTEM: ALL}
# Municipal officers read and write municipal checkup Observations, so Observation is a
# type they may search, update and delete (and a hidden one answers 404, not 403).
OTHER_OBSERVATION_READERS = frozenset({Role.MUNICIPAL})
# vread judges a version from its content in Python, read and search in SQL: the same cells.
INTERACTIONS = ("read", "vread", "search", "create", "update", "delete")


def _type_allowed(role: Role, resource_type: str, allowed: dict[Role, frozenset[str]]) -> bool:
    categories = {c for c, t in TYPE_OF.items() if t == resource_type}
    return bool(categories & allowed.get(role, frozenset()))


def expected(role: Role, category: str, state: str, interaction: str) -> int:
    """The status the cell must answer (search: 200 with 1 or 0 matches, see below)."""
    resource_type = TYPE_OF[category]
    if role is Role.PATIENT:  # patient/*.rs on their own record
        return 200 if interaction in ("read", "vread", "search") else 403
    visible = category in READS[role] and state == "active"
    type_readable = _type_allowed(role, resource_type, READS) or (
        resource_type == "Observation" and role in OTHER_OBSERVATION_READERS
    )
    if interaction in ("read", "vread", "search"):
        if not type_readable:
            return 403
        return 200 if (visible or interaction == "search") else 404
    if interaction == "create":
        return 201 if category in CREATES.get(role, frozenset()) else 403
    writers = CREATES if interaction == "update" else DELETES
    municipal_checkups = resource_type == "Observation" and role in OTHER_OBSERVATION_READERS
    if not (_type_allowed(role, resource_type, writers) or municipal_checkups):
        return 403
    return 403 if visible else 404  # never the owner: 403 when it can see it, else hidden


def visible_in_search(role: Role, category: str, state: str) -> bool:
    if role is Role.PATIENT:
        return True
    return category in READS[role] and state == "active"


CELLS = [
    (role, category, state, interaction)
    for role in Role
    for category in CATEGORIES
    for state in STATES
    for interaction in INTERACTIONS
]


@pytest.mark.parametrize(
    ("role", "category", "state", "interaction"),
    CELLS,
    ids=[f"{r.value}-{c}-{s}-{i}" for r, c, s, i in CELLS],
)
def test_cell(world: World, role: Role, category: str, state: str, interaction: str) -> None:
    patient = world.patients[state]
    resource = world.resources[(state, category)]
    rtype, rid = resource["resourceType"], resource["id"]
    headers = world.patient_headers(patient) if role is Role.PATIENT else world.headers(role)
    client = world.client
    if interaction == "read":
        response = client.get(f"/fhir/{rtype}/{rid}", headers=headers)
    elif interaction == "vread":
        response = client.get(f"/fhir/{rtype}/{rid}/_history/1", headers=headers)
    elif interaction == "search":
        response = client.get(
            f"/fhir/{rtype}", params={"_id": rid, "_total": "accurate"}, headers=headers
        )
    elif interaction == "create":
        body = clinical(category, patient, marker=f"new-{role.value}")
        response = client.post(f"/fhir/{rtype}", json=body, headers=headers)
    elif interaction == "update":
        body = {k: v for k, v in resource.items() if k != "meta"}
        response = client.put(f"/fhir/{rtype}/{rid}", json=body, headers=headers)
    else:
        response = client.delete(f"/fhir/{rtype}/{rid}", headers=headers)
    want = expected(role, category, state, interaction)
    assert response.status_code == want, response.text
    answer: Any = response.json() if response.content else None
    if want >= 400:
        assert answer["resourceType"] == "OperationOutcome"
        issue = answer["issue"][0]
        assert issue["code"] == ("forbidden" if want == 403 else "not-found")
        assert " / " in issue["diagnostics"]  # Japanese, then English
        assert rid not in issue["diagnostics"] or want == 404
    elif interaction == "search":
        matches = [e for e in answer.get("entry", []) if e["search"]["mode"] == "match"]
        shown = visible_in_search(role, category, state)
        assert len(matches) == answer["total"] == (1 if shown else 0)
    elif interaction == "create":
        tags = answer["meta"].get("tag", [])
        facility = [t["code"] for t in tags if t["system"].endswith("/facility")]
        assert facility == ["2710000001"]  # the server stamps the author's facility
