"""reference parameters (Type/id, id, :Type, absolute URL, :identifier) and chains.

Chains follow references to live resources only: a deleted target never satisfies a chain.
See: https://hl7.org/fhir/R4/search.html#reference and #chaining
"""

from __future__ import annotations

import pytest
from _pytest.mark.structures import ParameterSet

from tests.api.search import data
from tests.api.search.support import (
    BASE,
    Expected,
    SearchServer,
    case,
    cases,
    check,
    pats,
)

# Observations by subject.
OBS_01 = {"obs-hba1c-01a", "obs-hba1c-01b", "obs-glucose-01", "obs-weight-01", "obs-bp-01"}
OBS_06 = {"obs-weight-06", "obs-temp-06a", "obs-temp-06b"}
OBS_YAMADA = OBS_01 | {"obs-hr-02"}
OBS_11 = {"obs-glucose-11", "obs-abs-11"}
LICENSE = data.MEDICAL_LICENSE

CASES: list[tuple[str, Expected] | ParameterSet] = [
    # Plain references, written every way the spec allows.
    ("Observation?subject=Patient/pat-01", OBS_01),
    ("Observation?subject:Patient=pat-01", OBS_01),
    ("Observation?subject=pat-01", OBS_01),
    (f"Observation?subject={BASE}/Patient/pat-01", OBS_01),
    ("Observation?patient=pat-01", OBS_01),
    ("Observation?patient=Patient/pat-01", OBS_01),
    ("Observation?subject=Patient/pat-01,Patient/pat-06", OBS_01 | OBS_06),
    ("Observation?subject=Patient/pat-01&code=4548-4", {"obs-hba1c-01a", "obs-hba1c-01b"}),
    # The reference itself is still there when its target was deleted.
    ("Observation?subject=Patient/pat-99", {"obs-weight-99"}),
    # An absolute reference to this server's base is the local resource; one to another
    # server is not, even when it ends in the same Type/id.
    case("Observation?subject=Patient/pat-11", OBS_11),
    case(f"Observation?subject={BASE}/Patient/pat-11", OBS_11),
    (f"Observation?subject={data.OTHER_SERVER}/Patient/pat-11", {"obs-ext-11"}),
    case("Observation?subject:Patient.name=羽田", OBS_11),
    case(
        "Observation?patient.gender=male&code=5792-7,5804-0",
        {"obs-abs-11"},
    ),
    ("Observation?subject:missing=true", set()),
    (
        "Observation?encounter:missing=false",
        {
            "obs-hba1c-01a",
            "obs-hba1c-01b",
            "obs-hba1c-03",
            "obs-glucose-01",
            "obs-weight-01",
            "obs-weight-06",
            "obs-temp-06a",
        },
    ),
    (
        "Observation?performer=Practitioner/prac-01",
        {"obs-hba1c-01a", "obs-hba1c-01b", "obs-glucose-01", "obs-bp-01"},
    ),
    ("Observation?performer:Practitioner=prac-02", {"obs-temp-06a", "obs-temp-06b"}),
    (f"Observation?performer:identifier={LICENSE}|345678", {"obs-hr-02"}),
    ("Observation?performer:identifier=345678", {"obs-hr-02"}),
    # :identifier matches Reference.identifier, not the identifiers of the referenced resource.
    (f"Observation?subject:identifier={data.MRN_TOKYO}|00000001", set()),
    (f"Observation?performer:identifier={LICENSE}|123456", set()),
    ("Observation?encounter=Encounter/enc-03", {"obs-weight-06", "obs-temp-06a"}),
    ("Condition?asserter=Practitioner/prac-01", {"cond-dm-01", "cond-htn-01", "cond-htn-07"}),
    ("Condition?subject=Patient/pat-06", {"cond-asthma-06", "cond-flu-06"}),
    ("Condition?encounter=enc-03", {"cond-flu-06"}),
    ("Patient?general-practitioner=Practitioner/prac-01", pats(1, 7)),
    ("Patient?organization=Organization/org-tokyo", pats(1, 2, 6, 8)),
    ("Patient?organization:missing=true", pats(4, 7, 9, 10, 11, 12)),
    ("Patient?general-practitioner:missing=true", pats(3, 4, 5, 8, 9, 10, 11, 12)),
    ("Organization?partof=Organization/org-tokyo", {"org-tokyo-naika"}),
    ("MedicationRequest?requester=Practitioner/prac-02", {"medreq-06"}),
    ("MedicationRequest?subject=Patient/pat-01&status=active", {"medreq-01a", "medreq-01b"}),
    ("Encounter?service-provider=Organization/org-osaka", {"enc-03", "enc-04"}),
    ("Encounter?participant=Practitioner/prac-01", {"enc-01", "enc-02", "enc-05"}),
    ("Encounter?practitioner=prac-02", {"enc-03"}),
    ("AllergyIntolerance?patient=pat-01", {"allergy-01"}),
    ("RiskAssessment?subject=Patient/pat-07", {"risk-07"}),
    # Chains: typed and untyped, one and several levels; deleted targets never match.
    ("Observation?subject:Patient.name=山田", OBS_YAMADA),
    ("Observation?subject.name=ヤマダ", OBS_YAMADA),
    ("Observation?subject:Patient.name:exact=山田", OBS_YAMADA),
    case(
        "Observation?patient.telecom:missing=true",
        {"obs-glucose-05", "obs-bp-07", "obs-hba1c-08", "obs-glucose-11", "obs-abs-11"},
    ),
    ("Observation?patient._has:Condition:subject:code=E11.9", OBS_01 | {"obs-hba1c-03"}),
    ("Observation?subject:Patient.organization:Organization.name=大阪", {"obs-hba1c-03"}),
    ("Observation?patient.name=山田次郎", set()),
    ("Observation?patient.family=やまだ&code=4548-4", {"obs-hba1c-01a", "obs-hba1c-01b"}),
    ("Observation?patient.birthdate=lt1960", {"obs-bp-07"}),
    (
        "Observation?patient.gender=female",
        OBS_06 | {"obs-hr-02", "obs-glucose-04", "obs-cgm-04", "obs-hba1c-08"},
    ),
    (f"Observation?patient.identifier={data.MRN_OSAKA}|00000001", {"obs-hba1c-03"}),
    ("Observation?patient.identifier=00000001", OBS_01 | {"obs-hba1c-03"}),
    ("Observation?patient._id=pat-06", OBS_06),
    ("Observation?subject:Patient.name=山田,田中", OBS_YAMADA | {"obs-hba1c-03"}),
    ("Observation?subject:Patient.name=山田&subject:Patient.gender=female", {"obs-hr-02"}),
    (
        "Observation?subject:Patient.organization.name=東京中央",
        OBS_YAMADA | OBS_06 | {"obs-glucose-05", "obs-hba1c-08"},
    ),
    ("Observation?subject:Patient.organization.partof.name=東京中央病院", {"obs-glucose-05"}),
    ("Observation?subject:Patient.general-practitioner.name=佐藤", OBS_01 | {"obs-bp-07"}),
    ("Observation?performer:Practitioner.family=鈴木", {"obs-temp-06a", "obs-temp-06b"}),
    ("Observation?encounter.class=IMP", {"obs-hba1c-01b"}),
    (
        "Observation?encounter.service-provider.name=大阪",
        {"obs-weight-06", "obs-temp-06a", "obs-hba1c-03"},
    ),
    ("Patient?organization.partof=Organization/org-tokyo", pats(5)),
    ("Patient?organization.name=大阪北クリニック", pats(3)),
    ("Patient?general-practitioner:Practitioner.given=はなこ", pats(2, 6)),
    ("Encounter?service-provider.name=大阪北", {"enc-03", "enc-04"}),
    ("Encounter?subject:Patient.address-state=大阪府", {"enc-04"}),
    (
        "MedicationRequest?requester:Practitioner.name=佐藤",
        {"medreq-01a", "medreq-01b", "medreq-01c", "medreq-07"},
    ),
    ("MedicationRequest?requester.identifier=234567", {"medreq-06"}),
    ("MedicationRequest?encounter.patient.name=田中", {"medreq-03"}),
    ("Condition?subject:Patient.gender=male&code=I10", {"cond-htn-01", "cond-htn-07"}),
    ("Condition?encounter.date=2024-02-03", {"cond-flu-06"}),
    ("Condition?asserter:Practitioner.name=すずき", {"cond-flu-06"}),
    ("AllergyIntolerance?patient.birthdate=ge2000", {"allergy-06"}),
    ("RiskAssessment?subject:Patient.address-state=大阪府", {"risk-03"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_reference_and_chain_search(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)
