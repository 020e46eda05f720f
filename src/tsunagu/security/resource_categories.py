"""Which kind of information a resource is, for access control (pure).

Every resource falls into one `AccessClass`. Seven of them are the consent categories
(`Category`): a facility sees another facility's data of those only under the patient's
consent. The other classes are either other patient data (seen by its owner facility and by
the patient), or data about no patient (administration, reference data). The owner facility
of a resource is the server-stamped `meta.tag` in `FACILITY_TAG_SYSTEM`.
See docs/security.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from tsunagu.security.categories import Category

FACILITY_TAG_SYSTEM = "http://tsunagu.jp/fhir/CodeSystem/facility"
# JP CLINS lab item code systems whose codes are infection tests (感染症 5情報).
_INFECTION_SYSTEM_SUFFIX = "InfectionLabo_CS"
_INFECTION_OBSERVATION_CATEGORY = "infection"
# Municipal checkup profiles (eMunicipalCheckupIG) carry this in their canonical URL.
_MUNICIPAL_PROFILE_MARK = "municipal"


class AccessClass(StrEnum):
    """The kinds of information access rules are written about."""

    DIAGNOSES = Category.DIAGNOSES.value
    ALLERGIES = Category.ALLERGIES.value
    INFECTIONS = Category.INFECTIONS.value
    CONTRAINDICATIONS = Category.CONTRAINDICATIONS.value
    LABS = Category.LABS.value
    PRESCRIPTIONS = Category.PRESCRIPTIONS.value
    DOCUMENTS = Category.DOCUMENTS.value
    IMMUNIZATIONS = "immunizations"  # 予防接種 (municipal records)
    CHECKUPS = "checkups"  # 自治体検診 (municipal checkups)
    PATIENT_RECORD = "patient-record"  # other patient data: encounters, procedures, coverage ...
    DEMOGRAPHICS = "demographics"  # Patient, RelatedPerson, Person
    CONSENTS = "consents"  # Consent
    AUDIT = "audit"  # AuditEvent, Provenance
    ADMINISTRATION = "administration"  # facilities, staff, schedules
    REFERENCE = "reference"  # medications, terminology, definitions: no patient data


CONSENT_CLASSES: frozenset[AccessClass] = frozenset(AccessClass(c.value) for c in Category)
# What an emergency team may read, and what break-glass opens: the 救急時医療情報閲覧 summary.
EMERGENCY_SUMMARY: frozenset[Category] = frozenset(
    {
        Category.ALLERGIES,
        Category.CONTRAINDICATIONS,
        Category.DIAGNOSES,
        Category.PRESCRIPTIONS,
        Category.INFECTIONS,
    }
)

# Classes of types whose class does not depend on content.
_BY_TYPE: Mapping[str, AccessClass] = {
    "Condition": AccessClass.DIAGNOSES,
    "MedicationRequest": AccessClass.PRESCRIPTIONS,
    "MedicationDispense": AccessClass.PRESCRIPTIONS,
    "MedicationStatement": AccessClass.PRESCRIPTIONS,
    "MedicationAdministration": AccessClass.PRESCRIPTIONS,
    "DiagnosticReport": AccessClass.LABS,
    "Specimen": AccessClass.LABS,
    "ImagingStudy": AccessClass.LABS,
    "Composition": AccessClass.DOCUMENTS,
    "DocumentReference": AccessClass.DOCUMENTS,
    "DocumentManifest": AccessClass.DOCUMENTS,
    "Bundle": AccessClass.DOCUMENTS,
    "Immunization": AccessClass.IMMUNIZATIONS,
    "ImmunizationEvaluation": AccessClass.IMMUNIZATIONS,
    "ImmunizationRecommendation": AccessClass.IMMUNIZATIONS,
    "Patient": AccessClass.DEMOGRAPHICS,
    "RelatedPerson": AccessClass.DEMOGRAPHICS,
    "Person": AccessClass.DEMOGRAPHICS,
    "Consent": AccessClass.CONSENTS,
    "AuditEvent": AccessClass.AUDIT,
    "Provenance": AccessClass.AUDIT,
    "Organization": AccessClass.ADMINISTRATION,
    "Practitioner": AccessClass.ADMINISTRATION,
    "PractitionerRole": AccessClass.ADMINISTRATION,
    "Location": AccessClass.ADMINISTRATION,
    "HealthcareService": AccessClass.ADMINISTRATION,
    "Endpoint": AccessClass.ADMINISTRATION,
    "Schedule": AccessClass.ADMINISTRATION,
    "Slot": AccessClass.ADMINISTRATION,
    "Device": AccessClass.ADMINISTRATION,
    "OrganizationAffiliation": AccessClass.ADMINISTRATION,
    "InsurancePlan": AccessClass.ADMINISTRATION,
}
# Every class a resource of these types can have (content decides which).
_VARIABLE: Mapping[str, frozenset[AccessClass]] = {
    "Observation": frozenset({AccessClass.LABS, AccessClass.INFECTIONS, AccessClass.CHECKUPS}),
    "AllergyIntolerance": frozenset({AccessClass.ALLERGIES, AccessClass.CONTRAINDICATIONS}),
    "DiagnosticReport": frozenset({AccessClass.LABS, AccessClass.CHECKUPS}),
    "Composition": frozenset({AccessClass.DOCUMENTS, AccessClass.CHECKUPS}),
    "Bundle": frozenset({AccessClass.DOCUMENTS, AccessClass.CHECKUPS, AccessClass.REFERENCE}),
}
# Bundle types that carry a patient's record; other Bundles (searchset ...) are plain data.
_RECORD_BUNDLES = frozenset({"document", "collection", "message"})


def type_classes(resource_type: str, in_patient_compartment: bool) -> frozenset[AccessClass]:
    """Every class a resource of this type may have."""
    variable = _VARIABLE.get(resource_type)
    if variable is not None:
        return variable
    return frozenset({_fixed(resource_type, in_patient_compartment)})


def classify(resource: Mapping[str, Any], in_patient_compartment: bool) -> AccessClass:
    """The class of one resource. `in_patient_compartment`: its type is in the Patient
    compartment (so an unlisted type is patient data, not reference data)."""
    resource_type = str(resource.get("resourceType", ""))
    if AccessClass.CHECKUPS in _VARIABLE.get(resource_type, ()) and _is_municipal(resource):
        return AccessClass.CHECKUPS
    if resource_type == "Observation":
        return AccessClass.INFECTIONS if _is_infection(resource) else AccessClass.LABS
    if resource_type == "AllergyIntolerance":
        categories = resource.get("category") or []
        medication = isinstance(categories, list) and "medication" in categories
        return AccessClass.CONTRAINDICATIONS if medication else AccessClass.ALLERGIES
    if resource_type == "Bundle" and resource.get("type") not in _RECORD_BUNDLES:
        return AccessClass.REFERENCE
    return _fixed(resource_type, in_patient_compartment)


def _fixed(resource_type: str, in_patient_compartment: bool) -> AccessClass:
    found = _BY_TYPE.get(resource_type)
    if found is not None:
        return found
    return AccessClass.PATIENT_RECORD if in_patient_compartment else AccessClass.REFERENCE


def _is_infection(resource: Mapping[str, Any]) -> bool:
    for coding in _codings(resource.get("code")):
        if str(coding.get("system", "")).endswith(_INFECTION_SYSTEM_SUFFIX):
            return True
    for concept in resource.get("category") or []:
        for coding in _codings(concept):
            if coding.get("code") == _INFECTION_OBSERVATION_CATEGORY:
                return True
    return False


def _is_municipal(resource: Mapping[str, Any]) -> bool:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return isinstance(profiles, list) and any(
        isinstance(p, str) and _MUNICIPAL_PROFILE_MARK in p.lower() for p in profiles
    )


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding")
    return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []


def facility_of(resource: Mapping[str, Any]) -> str | None:
    """The owner facility the server stamped on the resource, if any."""
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, dict) and tag.get("system") == FACILITY_TAG_SYSTEM:
            code = tag.get("code")
            return code if isinstance(code, str) else None
    return None


def with_facility(resource: dict[str, Any], facility: str) -> dict[str, Any]:
    """The resource with its owner tag set to `facility` (any client-sent one replaced)."""
    meta = dict(resource.get("meta") or {})
    tags = [
        t
        for t in meta.get("tag") or []
        if not (isinstance(t, dict) and t.get("system") == FACILITY_TAG_SYSTEM)
    ]
    tags.append({"system": FACILITY_TAG_SYSTEM, "code": facility})
    meta["tag"] = tags
    return {**resource, "meta": meta}
