"""Reverse chaining (`_has`, nested) and `_include` / `_revinclude` (with :iterate).

Deleted resources neither satisfy `_has` nor get included; included resources appear once,
with search.mode = include, and never repeat a match.
See: https://hl7.org/fhir/R4/search.html#has and #include
"""

from __future__ import annotations

import pytest
from _pytest.mark.structures import ParameterSet

from tests.api.search.support import (
    Expected,
    SearchServer,
    case,
    cases,
    check,
    entry_ids,
    pats,
)

HAS_CASES: list[tuple[str, Expected] | ParameterSet] = [
    ("Patient?_has:Observation:patient:code=4548-4", pats(1, 3, 8)),
    # weight-08 (pat-08) is deleted and pat-99 is deleted: neither counts.
    ("Patient?_has:Observation:subject:code=29463-7", pats(1, 6)),
    ("Patient?_has:Observation:patient:_id=obs-weight-08", set()),
    ("Patient?_has:Observation:subject:code=4548-4,8867-4", pats(1, 2, 3, 8)),
    ("Patient?_has:Observation:patient:value-quantity=gt7||%", pats(1)),
    ("Patient?_has:Condition:subject:code=E11.9", pats(1, 3)),
    # Urine glucose refers to pat-11 by this server's absolute URL; urine protein refers to a
    # patient on another server that happens to have the id pat-11.
    ("Patient?_has:Observation:subject:code=5792-7", pats(11)),
    case("Patient?_has:Observation:subject:code=5804-0", set()),
    ("Patient?_has:Condition:subject:code:text=本態性", pats(1, 7)),
    ("Patient?_has:Observation:subject:performer=Practitioner/prac-02", pats(6)),
    ("Patient?_has:MedicationRequest:subject:status=active", pats(1)),
    ("Patient?_has:AllergyIntolerance:patient:criticality=high", pats(1, 4)),
    ("Patient?gender=male&_has:Condition:subject:code=I10", pats(1, 7)),
    (
        "Patient?_has:Condition:subject:clinical-status=resolved"
        "&_has:MedicationRequest:subject:status=completed",
        pats(6),
    ),
    # A chain inside `_has`, and `_has` inside `_has`.
    ("Patient?_has:Condition:subject:asserter.name=鈴木", pats(6)),
    (
        "Practitioner?_has:Patient:general-practitioner:_has:Condition:subject:code=E11.9",
        {"prac-01"},
    ),
    (
        "Organization?_has:Encounter:service-provider:_has:Observation:encounter:code=4548-4",
        {"org-tokyo", "org-osaka"},
    ),
    ("Practitioner?_has:Observation:performer:code=8310-5", {"prac-02"}),
    ("Practitioner?_has:Patient:general-practitioner:name=山田次郎", set()),
    ("Encounter?_has:Observation:encounter:code=4548-4", {"enc-01", "enc-02", "enc-04"}),
    ("Organization?_has:Patient:organization:gender=female", {"org-tokyo"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(HAS_CASES))
def test_has(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)


def _include(query: str, matches: Expected, included: set[str]) -> ParameterSet:
    return pytest.param(query, matches, included, id=query)


INCLUDE_CASES = [
    _include(
        "Practitioner?_id=prac-02&_revinclude=Patient:general-practitioner"
        "&_revinclude:iterate=Condition:subject",
        {"prac-02"},
        {"Patient/pat-02", "Patient/pat-06", "Condition/cond-asthma-06", "Condition/cond-flu-06"},
    ),
    _include(
        "Observation?_id=obs-hba1c-01a&_include=Observation:subject",
        {"obs-hba1c-01a"},
        {"Patient/pat-01"},
    ),
    _include(
        "Observation?_id=obs-hba1c-01a&_include=Observation:subject:Patient",
        {"obs-hba1c-01a"},
        {"Patient/pat-01"},
    ),
    _include(
        "Observation?_id=obs-hba1c-01a&_include=Observation:subject:Group",
        {"obs-hba1c-01a"},
        set(),
    ),
    _include(
        "Observation?code=4548-4&_include=Observation:patient",
        {"obs-hba1c-01a", "obs-hba1c-01b", "obs-hba1c-03", "obs-hba1c-08"},
        {"Patient/pat-01", "Patient/pat-03", "Patient/pat-08"},
    ),
    _include(
        "Observation?_id=obs-hba1c-01a&_include=Observation:performer"
        "&_include=Observation:encounter",
        {"obs-hba1c-01a"},
        {"Practitioner/prac-01", "Encounter/enc-01"},
    ),
    # The same practitioner performed all three: included once.
    _include(
        "Observation?patient=pat-06&_include=Observation:performer",
        {"obs-weight-06", "obs-temp-06a", "obs-temp-06b"},
        {"Practitioner/prac-02"},
    ),
    # A reference to another server is not followed to the local resource of the same id.
    _include(
        "Observation?_id=obs-ext-11&_include=Observation:subject",
        {"obs-ext-11"},
        set(),
    ),
    _include(
        "Observation?_id=obs-abs-11&_include=Observation:subject",
        {"obs-abs-11"},
        {"Patient/pat-11"},
    ),
    _include(
        "Patient?_id=pat-11&_revinclude=Observation:subject",
        pats(11),
        {"Observation/obs-glucose-11", "Observation/obs-abs-11"},
    ),
    # A deleted target is not included.
    _include(
        "Observation?_id=obs-weight-99&_include=Observation:subject", {"obs-weight-99"}, set()
    ),
    _include(
        "MedicationRequest?_id=medreq-01a&_include=*",
        {"medreq-01a"},
        {"Patient/pat-01", "Practitioner/prac-01", "Encounter/enc-01"},
    ),
    _include(
        "MedicationRequest?_id=medreq-01a&_include=MedicationRequest:patient"
        "&_include:iterate=Patient:organization",
        {"medreq-01a"},
        {"Patient/pat-01", "Organization/org-tokyo"},
    ),
    _include(
        "MedicationRequest?_id=medreq-01a&_include=MedicationRequest:patient"
        "&_include:iterate=Patient:general-practitioner",
        {"medreq-01a"},
        {"Patient/pat-01", "Practitioner/prac-01"},
    ),
    _include(
        "Patient?_id=pat-05&_include=Patient:organization&_include:iterate=Organization:partof",
        pats(5),
        {"Organization/org-tokyo-naika", "Organization/org-tokyo"},
    ),
    # Without :iterate, an include applies to the matches only.
    _include(
        "Patient?_id=pat-05&_include=Patient:organization&_include=Organization:partof",
        pats(5),
        {"Organization/org-tokyo-naika"},
    ),
    _include(
        "Patient?_id=pat-01,pat-02&_include=Patient:general-practitioner",
        pats(1, 2),
        {"Practitioner/prac-01", "Practitioner/prac-02"},
    ),
    # A resource that is already a match is not repeated as an include.
    _include(
        "Organization?_id=org-tokyo,org-tokyo-naika&_include=Organization:partof",
        {"org-tokyo", "org-tokyo-naika"},
        set(),
    ),
    _include(
        "Patient?_id=pat-06&_revinclude=Condition:subject",
        pats(6),
        {"Condition/cond-asthma-06", "Condition/cond-flu-06"},
    ),
    _include(
        "Patient?_id=pat-08&_revinclude=Observation:subject",
        pats(8),
        {"Observation/obs-hba1c-08"},
    ),
    _include("Patient?_id=pat-99&_revinclude=Observation:subject", set(), set()),
    _include(
        "Practitioner?_id=prac-01&_revinclude=Patient:general-practitioner",
        {"prac-01"},
        {"Patient/pat-01", "Patient/pat-07"},
    ),
    _include(
        "Organization?_id=org-tokyo&_revinclude=Organization:partof",
        {"org-tokyo"},
        {"Organization/org-tokyo-naika"},
    ),
    _include(
        "Encounter?_id=enc-01&_revinclude=Observation:encounter&_include=Encounter:service-provider",
        {"enc-01"},
        {
            "Observation/obs-hba1c-01a",
            "Observation/obs-glucose-01",
            "Observation/obs-weight-01",
            "Organization/org-tokyo",
        },
    ),
    _include(
        "Patient?_id=pat-01&_revinclude=MedicationRequest:subject"
        "&_include:iterate=MedicationRequest:requester",
        pats(1),
        {
            "MedicationRequest/medreq-01a",
            "MedicationRequest/medreq-01b",
            "MedicationRequest/medreq-01c",
            "Practitioner/prac-01",
        },
    ),
]


@pytest.mark.parametrize(("query", "matches", "included"), INCLUDE_CASES)
def test_include(server: SearchServer, query: str, matches: Expected, included: set[str]) -> None:
    bundle = server.bundle(query)
    check(entry_ids(bundle, "match"), matches)
    check(entry_ids(bundle, "include", typed=True), included)
    every = entry_ids(bundle, "match", typed=True) + entry_ids(bundle, "include", typed=True)
    assert len(every) == len(set(every)), "a resource appears twice"
