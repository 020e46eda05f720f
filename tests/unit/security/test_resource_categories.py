"""Which access class a resource is in, and its server-stamped owner facility."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.security.resource_categories import (
    FACILITY_TAG_SYSTEM,
    AccessClass,
    classify,
    facility_of,
    type_classes,
    with_facility,
)

INFECTION = "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_InfectionLabo_CS"
CORE_LAB = "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_CoreLabo_CS"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"resourceType": "Condition"}, AccessClass.DIAGNOSES),
        (
            {"resourceType": "AllergyIntolerance", "category": ["medication"]},
            AccessClass.CONTRAINDICATIONS,
        ),
        ({"resourceType": "AllergyIntolerance", "category": ["food"]}, AccessClass.ALLERGIES),
        ({"resourceType": "AllergyIntolerance"}, AccessClass.ALLERGIES),
        (
            {
                "resourceType": "Observation",
                "code": {"coding": [{"system": INFECTION, "code": "x"}]},
            },
            AccessClass.INFECTIONS,
        ),
        (
            {
                "resourceType": "Observation",
                "code": {"coding": [{"system": CORE_LAB, "code": "x"}]},
            },
            AccessClass.LABS,
        ),
        ({"resourceType": "Observation"}, AccessClass.LABS),
        ({"resourceType": "MedicationRequest"}, AccessClass.PRESCRIPTIONS),
        ({"resourceType": "MedicationDispense"}, AccessClass.PRESCRIPTIONS),
        ({"resourceType": "MedicationStatement"}, AccessClass.PRESCRIPTIONS),
        ({"resourceType": "Composition"}, AccessClass.DOCUMENTS),
        ({"resourceType": "DocumentReference"}, AccessClass.DOCUMENTS),
        ({"resourceType": "Bundle", "type": "document"}, AccessClass.DOCUMENTS),
        ({"resourceType": "Bundle", "type": "searchset"}, AccessClass.REFERENCE),
        ({"resourceType": "Immunization"}, AccessClass.IMMUNIZATIONS),
        (
            {
                "resourceType": "Observation",
                "meta": {
                    "profile": ["http://jpfhir.jp/fhir/eMunicipalCheckup/StructureDefinition/x"]
                },
            },
            AccessClass.CHECKUPS,
        ),
        ({"resourceType": "Patient"}, AccessClass.DEMOGRAPHICS),
        ({"resourceType": "Consent"}, AccessClass.CONSENTS),
        ({"resourceType": "AuditEvent"}, AccessClass.AUDIT),
        ({"resourceType": "Organization"}, AccessClass.ADMINISTRATION),
        ({"resourceType": "Medication"}, AccessClass.REFERENCE),
    ],
)
def test_classes(resource: dict[str, Any], expected: AccessClass) -> None:
    assert classify(resource, in_patient_compartment=False) == expected


def test_unlisted_patient_data_is_patient_record_and_other_types_reference_data() -> None:
    assert classify({"resourceType": "Encounter"}, True) == AccessClass.PATIENT_RECORD
    assert classify({"resourceType": "ValueSet"}, False) == AccessClass.REFERENCE


@given(
    st.sampled_from(["Observation", "AllergyIntolerance", "Condition", "Bundle", "Encounter"]),
    st.booleans(),
)
def test_type_classes_cover_every_class_a_resource_of_the_type_gets(
    rtype: str, compartment: bool
) -> None:
    variants: list[dict[str, Any]] = [
        {"resourceType": rtype},
        {"resourceType": rtype, "category": ["medication"]},
        {"resourceType": rtype, "type": "document"},
        {"resourceType": rtype, "code": {"coding": [{"system": INFECTION}]}},
        {"resourceType": rtype, "meta": {"profile": ["urn:Municipal"]}},
    ]
    for resource in variants:
        assert classify(resource, compartment) in type_classes(rtype, compartment)


def test_the_owner_tag_is_replaced_never_added_twice() -> None:
    forged = {
        "resourceType": "Condition",
        "meta": {"tag": [{"system": FACILITY_TAG_SYSTEM, "code": "9999999999"}, {"code": "keep"}]},
    }
    stamped = with_facility(forged, "1318814790")
    assert facility_of(stamped) == "1318814790"
    assert stamped["meta"]["tag"] == [
        {"code": "keep"},
        {"system": FACILITY_TAG_SYSTEM, "code": "1318814790"},
    ]
    assert facility_of(forged) == "9999999999"  # the input is not changed
    assert facility_of({"resourceType": "Condition"}) is None
