"""Mutation tests: a valid resource, one defect, exactly the expected issue.

Every case starts from a resource that validates with no error (R4 core, JP Core 1.1.2 or
JP-CLINS 1.5.2; written for these tests, not copied from the packages), applies one mutation
and asserts that the validator reports the expected issue code at the expected FHIRPath
expression, and no other error.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tsunagu.bootstrap import build_validator
from tsunagu.fhir.outcomes import Issue
from tsunagu.identity.synthetic.clinical import condition_status, disease_code, lab_category
from tsunagu.settings import Settings
from tsunagu.validation import ResourceValidator

Json = dict[str, Any]
Path = tuple[str | int, ...]

ECS = "http://jpfhir.jp/fhir/eCS/StructureDefinition"
CORE = "http://jpfhir.jp/fhir/core/StructureDefinition"
PATIENT_ECS = f"{ECS}/JP_Patient_eCS"
CONDITION_ECS = f"{ECS}/JP_Condition_eCS"
OBSERVATION_ECS = f"{ECS}/JP_Observation_LabResult_eCS"
ALLERGY_ECS = f"{ECS}/JP_AllergyIntolerance_eCS"
MEDREQ_ECS = f"{ECS}/JP_MedicationRequest_eCS"
JP_PATIENT = f"{CORE}/JP_Patient"
JP_MEDREQ = f"{CORE}/JP_MedicationRequest"
JP_OBSERVATION_LAB = f"{CORE}/JP_Observation_LabResult"
JP_CONDITION = f"{CORE}/JP_Condition"

INSTITUTION_EXT = (
    "http://jpfhir.jp/fhir/clins/Extension/StructureDefinition/JP_eCS_InstitutionNumber"
)
DEPARTMENT_EXT = "http://jpfhir.jp/fhir/eCS/Extension/StructureDefinition/JP_eCS_Department"
REPRESENTATION_EXT = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
INDICATION = "http://jpfhir.jp/fhir/clins/CodeSystem/JP_ehrshrs_indication"
RESOURCE_ID = "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier"
MEMBER_ID = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
LOCAL_PATIENT_ID = "urn:oid:1.2.392.100495.20.3.51.11318814790"
YJ = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code"
MERIT9 = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationUnitMERIT9Code"
UCUM = "http://unitsofmeasure.org"
PERIOD_OF_USE_EXT = (
    "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_MedicationDosage_PeriodOfUse"
)
USAGE_EPRESCRIPTION = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationUsage_ePrescription"
STRENGTH_TYPE = (
    "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationIngredientStrengthStrengthType"
)


# --- valid resources ------------------------------------------------------------------


def _institution() -> Json:
    return {
        "url": INSTITUTION_EXT,
        "valueIdentifier": {
            "system": "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no",
            "value": "1311234567",
        },
    }


def _department() -> Json:
    return {
        "url": DEPARTMENT_EXT,
        "valueCodeableConcept": {
            "coding": [
                {
                    "system": "http://jami.jp/SS-MIX2/CodeSystem/ClinicalDepartment",
                    "code": "01",
                    "display": "内科",
                }
            ],
            "text": "内科",
        },
    }


def _encounter() -> Json:
    return {
        "resourceType": "Encounter",
        "id": "enc1",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "外来",
        },
    }


def _member() -> Json:
    return {"identifier": {"system": MEMBER_ID, "value": "06139871:1234:5678:01"}}


def r4_patient() -> Json:
    """A plain R4 Patient (no profile)."""
    return {
        "resourceType": "Patient",
        "id": "pat-r4",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": "123"}],
        "active": True,
        "name": [{"use": "official", "family": "山田", "given": ["太郎"]}],
        "telecom": [{"system": "phone", "value": "03-1234-5678", "use": "home"}],
        "gender": "male",
        "birthDate": "1970-01-31",
        "deceasedBoolean": False,
        "address": [{"text": "東京都千代田区千代田1-1", "postalCode": "100-0001"}],
        "contact": [{"name": {"family": "山田", "given": ["花子"]}}],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "ja"}]},
                "preferred": True,
            }
        ],
    }


def r4_observation() -> Json:
    """A plain R4 vital-sign style Observation (no profile)."""
    return {
        "resourceType": "Observation",
        "id": "obs-r4",
        "meta": {"lastUpdated": "2024-04-01T09:00:00+09:00"},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "心拍数"},
        "subject": {"reference": "Patient/pat-r4"},
        "effectiveDateTime": "2024-04-01T09:00:00+09:00",
        "issued": "2024-04-01T09:05:00.000+09:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": UCUM, "code": "/min"},
        "referenceRange": [
            {"low": {"value": 60, "unit": "/min"}, "high": {"value": 100, "unit": "/min"}}
        ],
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 120, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
            }
        ],
    }


def jp_patient() -> Json:
    """JP Core 1.1.2 JP_Patient."""
    return {
        "resourceType": "Patient",
        "id": "jp-pat",
        "meta": {"profile": [JP_PATIENT]},
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11311234567", "value": "123"}],
        "name": [
            {
                "extension": [{"url": REPRESENTATION_EXT, "valueCode": "IDE"}],
                "use": "official",
                "text": "山田 太郎",
                "family": "山田",
                "given": ["太郎"],
            },
            {
                "extension": [{"url": REPRESENTATION_EXT, "valueCode": "SYL"}],
                "use": "official",
                "text": "ヤマダ タロウ",
                "family": "ヤマダ",
                "given": ["タロウ"],
            },
        ],
        "gender": "male",
        "birthDate": "1970-01-31",
    }


def clins_patient() -> Json:
    """JP-CLINS JP_Patient_eCS."""
    return {
        "resourceType": "Patient",
        "id": "ecs-pat",
        "meta": {"lastUpdated": "2024-04-01T09:00:00+09:00", "profile": [PATIENT_ECS]},
        "identifier": [
            {"system": LOCAL_PATIENT_ID, "value": "00001234"},
            {"system": MEMBER_ID, "value": "06139871:1234:5678:01"},
        ],
        "name": [
            {
                "extension": [{"url": REPRESENTATION_EXT, "valueCode": "IDE"}],
                "text": "鈴木 一郎",
                "family": "鈴木",
                "given": ["一郎"],
            },
            {
                "extension": [{"url": REPRESENTATION_EXT, "valueCode": "SYL"}],
                "text": "スズキ イチロウ",
                "family": "スズキ",
                "given": ["イチロウ"],
            },
        ],
        "gender": "male",
        "birthDate": "1958-07-07",
        "address": [{"text": "大阪府大阪市北区梅田1-1", "postalCode": "530-0001"}],
    }


def clins_condition() -> Json:
    """JP-CLINS JP_Condition_eCS (傷病名)."""
    return {
        "resourceType": "Condition",
        "id": "ecs-cond",
        "meta": {
            "lastUpdated": "2024-04-01T09:00:00+09:00",
            "profile": [CONDITION_ECS],
            "tag": [{"system": INDICATION, "code": "LTS"}],
        },
        "contained": [_encounter()],
        "extension": [_institution(), _department()],
        "identifier": [{"system": RESOURCE_ID, "value": "1311234567-cond-0001"}],
        **condition_status("encounter-diagnosis"),
        "code": disease_code("20057110", "高血圧症"),
        "subject": _member(),
        "encounter": {"reference": "#enc1"},
        "onsetDateTime": "2023-11-02",
        "recordedDate": "2024-04-01",
    }


def clins_observation() -> Json:
    """JP-CLINS JP_Observation_LabResult_eCS (検査: ALB)."""
    return {
        "resourceType": "Observation",
        "id": "ecs-obs",
        "meta": {
            "lastUpdated": "2024-04-01T09:00:00+09:00",
            "profile": [OBSERVATION_ECS],
            "tag": [{"system": INDICATION, "code": "LTS"}],
        },
        "contained": [
            _encounter(),
            {
                "resourceType": "Specimen",
                "id": "spec1",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0487",
                            "code": "SER",
                            "display": "Serum",
                        }
                    ],
                    "text": "血清",
                },
            },
        ],
        "extension": [_institution(), _department()],
        "identifier": [{"system": RESOURCE_ID, "value": "1311234567-obs-0001"}],
        "status": "final",
        "category": lab_category(),
        "code": {
            "coding": [
                {
                    "system": "http://jpfhir.jp/fhir/clins/CodeSystem/JP_CLINS_ObsLabResult_LocalCode_CS",
                    "code": "L0001",
                    "display": "アルブミン",
                },
                {
                    "system": "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_CoreLabo_CS",
                    "code": "3A015000001827101",
                    "display": "ALB",
                },
            ],
            "text": "アルブミン",
        },
        "subject": _member(),
        "encounter": {"reference": "#enc1"},
        "effectiveDateTime": "2024-03-28T10:15:00+09:00",
        "valueQuantity": {"value": 4.1, "unit": "g/dL", "system": UCUM, "code": "g/dL"},
        "specimen": {"reference": "#spec1"},
    }


def clins_allergy() -> Json:
    """JP-CLINS JP_AllergyIntolerance_eCS (食物アレルギー)."""
    return {
        "resourceType": "AllergyIntolerance",
        "id": "ecs-alg",
        "meta": {
            "lastUpdated": "2024-04-01T09:00:00+09:00",
            "profile": [ALLERGY_ECS],
            "tag": [{"system": INDICATION, "code": "LTS"}],
        },
        "extension": [_institution()],
        "identifier": [{"system": RESOURCE_ID, "value": "1311234567-alg-0001"}],
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": "confirmed",
                }
            ]
        },
        "category": ["food"],
        "criticality": "high",
        "code": {
            "coding": [
                {
                    "system": "http://jpfhir.jp/fhir/core/CodeSystem/JP_JfagyFoodAllergen_CS",
                    "code": "J7FB11110000",
                    "display": "えび",
                }
            ],
            "text": "えび",
        },
        "patient": {"reference": "Patient/ecs-pat"},
        "recordedDate": "2024-04-01",
        "reaction": [{"manifestation": [{"text": "じんましん"}], "severity": "moderate"}],
    }


def _medreq_common() -> Json:
    return {
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": YJ, "code": "2149039F1020", "display": "アムロジピン錠5mg"}],
            "text": "アムロジピン錠5mg",
        },
        "authoredOn": "2024-04-01T10:00:00+09:00",
        "dosageInstruction": [
            {
                "extension": [{"url": PERIOD_OF_USE_EXT, "valuePeriod": {"start": "2024-04-01"}}],
                "text": "1日1回朝食後 1回1錠",
                "timing": {
                    "repeat": {"frequency": 1, "period": 1, "periodUnit": "d"},
                    "code": {
                        "coding": [
                            {
                                "system": USAGE_EPRESCRIPTION,
                                "code": "1013044400000000",
                                "display": "内服・経口・１日１回朝食後",
                            }
                        ],
                        "text": "1日1回朝食後",
                    },
                },
                "route": {
                    "coding": [
                        {
                            "system": "http://jpfhir.jp/fhir/core/CodeSystem/route-codes",
                            "code": "PO",
                            "display": "口",
                        }
                    ]
                },
                "doseAndRate": [
                    {
                        "type": {
                            "coding": [{"system": STRENGTH_TYPE, "code": "1", "display": "製剤量"}]
                        },
                        "doseQuantity": {"value": 1, "unit": "錠", "system": MERIT9, "code": "TAB"},
                    }
                ],
            }
        ],
        "dispenseRequest": {
            "quantity": {"value": 28, "unit": "錠", "system": MERIT9, "code": "TAB"},
            "expectedSupplyDuration": {"value": 28, "unit": "日", "system": UCUM, "code": "d"},
        },
    }


def clins_medication_request() -> Json:
    """JP-CLINS JP_MedicationRequest_eCS (処方)."""
    return {
        "resourceType": "MedicationRequest",
        "id": "ecs-med",
        "meta": {"lastUpdated": "2024-04-01T09:00:00+09:00", "profile": [MEDREQ_ECS]},
        "extension": [_institution()],
        "identifier": [
            {
                "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/Medication-RPGroupNumber",
                "value": "1",
            },
            {
                "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicationAdministrationIndex",
                "value": "1",
            },
        ],
        **_medreq_common(),
        "subject": {**_member(), "type": "Patient"},
    }


def jp_medication_request() -> Json:
    """JP Core 1.1.2 JP_MedicationRequest."""
    return {
        "resourceType": "MedicationRequest",
        "id": "jp-med",
        "meta": {"profile": [JP_MEDREQ]},
        "identifier": [
            {"system": "urn:oid:1.2.392.100495.20.3.81", "value": "1"},
            {"system": "urn:oid:1.2.392.100495.20.3.82", "value": "1"},
        ],
        **_medreq_common(),
        "subject": {"reference": "Patient/jp-pat"},
    }


BASES: dict[str, Callable[[], Json]] = {
    "r4_patient": r4_patient,
    "r4_observation": r4_observation,
    "jp_patient": jp_patient,
    "jp_medication_request": jp_medication_request,
    "clins_patient": clins_patient,
    "clins_condition": clins_condition,
    "clins_observation": clins_observation,
    "clins_allergy": clins_allergy,
    "clins_medication_request": clins_medication_request,
}


# --- mutations ------------------------------------------------------------------------


def _walk(resource: Json, path: Path) -> Any:
    node: Any = resource
    for step in path:
        node = node[step]
    return node


def remove(*path: str | int) -> Callable[[Json], None]:
    def apply(resource: Json) -> None:
        parent = _walk(resource, path[:-1])
        del parent[path[-1]]

    return apply


def put(*path: str | int, value: Any) -> Callable[[Json], None]:
    def apply(resource: Json) -> None:
        parent = _walk(resource, path[:-1])
        parent[path[-1]] = copy.deepcopy(value)

    return apply


def append(*path: str | int, value: Any) -> Callable[[Json], None]:
    def apply(resource: Json) -> None:
        _walk(resource, path).append(copy.deepcopy(value))

    return apply


def rename(*path: str | int, to: str) -> Callable[[Json], None]:
    def apply(resource: Json) -> None:
        parent = _walk(resource, path[:-1])
        parent[to] = parent.pop(path[-1])

    return apply


def both(*steps: Callable[[Json], None]) -> Callable[[Json], None]:
    def apply(resource: Json) -> None:
        for step in steps:
            step(resource)

    return apply


@dataclass(frozen=True)
class Case:
    id: str
    base: str
    mutate: Callable[[Json], None]
    expected: tuple[tuple[str, str], ...]  # (issue code, expression), every error expected
    profiles: tuple[str, ...] = ()


def case(
    id: str,
    base: str,
    mutate: Callable[[Json], None],
    code: str,
    expression: str,
    *more: tuple[str, str],
    profiles: tuple[str, ...] = (),
) -> Case:
    return Case(id, base, mutate, ((code, expression), *more), profiles)


BAD_DATES = ["1970-13-01", "1970-02-30", "70-01-31", "1970/01/31", "1970-01-31T10:00:00"]
BAD_DATE_TIMES = [
    "2024-04-01T09:00",
    "2024-04-01T25:00:00+09:00",
    "2024-04-01T09:00:00",
    "2024-04-01 09:00:00+09:00",
    "20240401",
]
BAD_INSTANTS = ["2024-04-01", "2024-04-01T09:00:00", "2024-04-01T09:00:00+9:00"]
BAD_IDS = ["has space", "x" * 65, "日本語", "a/b"]

CASES: list[Case] = [
    # --- R4 structure: unknown elements, JSON shape, cardinality -------------------------
    case(
        "unknown-root", "r4_patient", put("nickname", value="タロ"), "structure", "Patient.nickname"
    ),
    case(
        "unknown-nested",
        "r4_patient",
        put("name", 0, "middle", value="X"),
        "structure",
        "Patient.name[0].middle",
    ),
    case(
        "unknown-in-backbone",
        "r4_patient",
        put("contact", 0, "nickname", value="X"),
        "structure",
        "Patient.contact[0].nickname",
    ),
    case(
        "wrong-case-element",
        "r4_patient",
        rename("birthDate", to="birthdate"),
        "structure",
        "Patient.birthdate",
    ),
    case(
        "choice-without-type",
        "r4_patient",
        rename("deceasedBoolean", to="deceased"),
        "structure",
        "Patient.deceased",
    ),
    case(
        "choice-unknown-type",
        "r4_patient",
        rename("deceasedBoolean", to="deceasedString"),
        "structure",
        "Patient.deceasedString",
    ),
    case(
        "two-choices",
        "r4_patient",
        put("deceasedDateTime", value="2020-01-01"),
        "structure",
        "Patient.deceased[x]",
    ),
    case(
        "scalar-as-array",
        "r4_patient",
        put("gender", value=["male"]),
        "structure",
        "Patient.gender",
    ),
    case(
        "array-as-scalar",
        "r4_patient",
        put("name", value={"family": "山田"}),
        "structure",
        "Patient.name",
    ),
    case(
        "array-of-primitives-as-scalar",
        "r4_patient",
        put("name", 0, "given", value="太郎"),
        "structure",
        "Patient.name[0].given",
    ),
    case(
        "object-as-string",
        "r4_patient",
        put("maritalStatus", value="married"),
        "structure",
        "Patient.maritalStatus",
    ),
    case("empty-string", "r4_patient", put("birthDate", value=""), "value", "Patient.birthDate"),
    case(
        "empty-object",
        "r4_patient",
        put("maritalStatus", value={}),
        "structure",
        "Patient.maritalStatus",
    ),
    case("empty-array", "r4_patient", put("telecom", value=[]), "structure", "Patient.telecom"),
    case("null-value", "r4_patient", put("gender", value=None), "structure", "Patient.gender"),
    case(
        "wrong-resource-type-field",
        "r4_patient",
        put("resourceType", value="Patient2"),
        "structure",
        "Resource.resourceType",
    ),
    # --- primitive types ---------------------------------------------------------------
    case("boolean-as-string", "r4_patient", put("active", value="true"), "value", "Patient.active"),
    case("boolean-as-number", "r4_patient", put("active", value=1), "value", "Patient.active"),
    case(
        "string-as-number",
        "r4_patient",
        put("name", 0, "family", value=42),
        "value",
        "Patient.name[0].family",
    ),
    case(
        "date-as-number",
        "r4_patient",
        put("birthDate", value=19700131),
        "value",
        "Patient.birthDate",
    ),
    case(
        "integer-as-decimal",
        "r4_patient",
        put("telecom", 0, "rank", value=1.5),
        "value",
        "Patient.telecom[0].rank",
    ),
    case(
        "integer-as-string",
        "r4_patient",
        put("telecom", 0, "rank", value="1"),
        "value",
        "Patient.telecom[0].rank",
    ),
    case(
        "positive-int-zero",
        "r4_patient",
        put("telecom", 0, "rank", value=0),
        "value",
        "Patient.telecom[0].rank",
    ),
    case(
        "decimal-as-string",
        "r4_observation",
        put("valueQuantity", "value", value="72"),
        "value",
        "Observation.valueQuantity.value",
    ),
    case(
        "string-with-control-character",
        "r4_patient",
        put("name", 0, "family", value="山\x01田"),
        "value",
        "Patient.name[0].family",
    ),
    case(
        "code-with-leading-space",
        "r4_patient",
        put("telecom", 0, "use", value=" home"),
        "value",
        "Patient.telecom[0].use",
    ),
    *(
        case(f"bad-date-{i}", "r4_patient", put("birthDate", value=v), "value", "Patient.birthDate")
        for i, v in enumerate(BAD_DATES)
    ),
    *(
        case(
            f"bad-datetime-{i}",
            "r4_observation",
            put("effectiveDateTime", value=v),
            "value",
            "Observation.effectiveDateTime",
        )
        for i, v in enumerate(BAD_DATE_TIMES)
    ),
    *(
        case(
            f"bad-instant-{i}",
            "r4_observation",
            put("issued", value=v),
            "value",
            "Observation.issued",
        )
        for i, v in enumerate(BAD_INSTANTS)
    ),
    case(
        "bad-meta-last-updated",
        "r4_observation",
        put("meta", "lastUpdated", value="2024-04-01"),
        "value",
        "Observation.meta.lastUpdated",
    ),
    *(
        case(f"bad-id-{i}", "r4_patient", put("id", value=v), "value", "Patient.id")
        for i, v in enumerate(BAD_IDS)
    ),
    case(
        "bad-uri-with-space",
        "r4_patient",
        put("identifier", 0, "system", value="urn:oid:1.2 3"),
        "value",
        "Patient.identifier[0].system",
    ),
    case(
        "bad-canonical",
        "r4_patient",
        put("meta", value={"profile": ["http://example.org/a profile"]}),
        "value",
        "Patient.meta.profile[0]",
    ),
    case(
        "bad-url",
        "r4_patient",
        put("photo", value=[{"contentType": "image/png", "url": "http://example.org/a b"}]),
        "value",
        "Patient.photo[0].url",
    ),
    case(
        "bad-base64",
        "r4_patient",
        put("photo", value=[{"contentType": "image/png", "data": "not base64!"}]),
        "value",
        "Patient.photo[0].data",
    ),
    # --- required elements and bindings of R4 core -------------------------------------
    case("missing-status", "r4_observation", remove("status"), "required", "Observation.status"),
    case("missing-code", "r4_observation", remove("code"), "required", "Observation.code"),
    case(
        "missing-component-code",
        "r4_observation",
        remove("component", 0, "code"),
        "required",
        "Observation.component[0].code",
    ),
    case(
        "missing-communication-language",
        "r4_patient",
        remove("communication", 0, "language"),
        "required",
        "Patient.communication[0].language",
    ),
    case(
        "gender-not-in-value-set",
        "r4_patient",
        put("gender", value="M"),
        "code-invalid",
        "Patient.gender",
    ),
    case(
        "status-not-in-value-set",
        "r4_observation",
        put("status", value="done"),
        "code-invalid",
        "Observation.status",
    ),
    case(
        "telecom-system-not-in-value-set",
        "r4_patient",
        put("telecom", 0, "system", value="mobile"),
        "code-invalid",
        "Patient.telecom[0].system",
    ),
    case(
        "quantity-comparator-not-in-value-set",
        "r4_observation",
        put("valueQuantity", "comparator", value="=="),
        "code-invalid",
        "Observation.valueQuantity.comparator",
    ),
    # --- invariants of R4 core ---------------------------------------------------------
    case(
        "pat-1-contact-empty",
        "r4_patient",
        put("contact", 0, value={"gender": "female"}),
        "invariant",
        "Patient.contact[0]",
    ),
    case(
        "obs-7-value-and-component-code",
        "r4_observation",
        put("component", 0, "code", value=copy.deepcopy(r4_observation()["code"])),
        "invariant",
        "Observation",
    ),
    case(
        "obs-6-data-absent-with-value",
        "r4_observation",
        put(
            "dataAbsentReason",
            value={
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                        "code": "unknown",
                    }
                ]
            },
        ),
        "invariant",
        "Observation",
    ),
    case(
        "obs-3-range-without-bounds",
        "r4_observation",
        put("referenceRange", 0, value={"appliesTo": [{"text": "成人"}]}),
        "invariant",
        "Observation.referenceRange[0]",
    ),
    case(
        "per-1-period-end-before-start",
        "r4_observation",
        both(
            remove("effectiveDateTime"),
            put("effectivePeriod", value={"start": "2024-04-02", "end": "2024-04-01"}),
        ),
        "invariant",
        "Observation.effectivePeriod",
    ),
    case(
        "ele-1-empty-element",
        "r4_patient",
        put("maritalStatus", value={"extension": []}),
        "structure",
        "Patient.maritalStatus.extension",
    ),
    case(
        "dom-3-unreferenced-contained",
        "r4_observation",
        put("contained", value=[{"resourceType": "Specimen", "id": "sp"}]),
        "invariant",
        "Observation.contained[0]",
    ),
    case(
        "dom-2-nested-contained",
        "r4_observation",
        both(
            put(
                "contained",
                value=[
                    {
                        "resourceType": "Specimen",
                        "id": "sp",
                        "contained": [
                            {"resourceType": "Substance", "id": "s", "code": {"text": "x"}}
                        ],
                    }
                ],
            ),
            put("specimen", value={"reference": "#sp"}),
        ),
        "invariant",
        "Observation.contained[0]",
        ("invariant", "Observation.contained[0].contained[0]"),  # dom-3: nothing refers to it
    ),
    case(
        "dom-4-contained-with-version",
        "r4_observation",
        both(
            put(
                "contained",
                value=[{"resourceType": "Specimen", "id": "sp", "meta": {"versionId": "1"}}],
            ),
            put("specimen", value={"reference": "#sp"}),
        ),
        "invariant",
        "Observation.contained[0]",
    ),
    case(
        "dom-6-narrative-missing-div",
        "r4_patient",
        put("text", value={"status": "generated"}),
        "required",
        "Patient.text.div",
    ),
    # --- references --------------------------------------------------------------------
    case(
        "reference-with-space",
        "r4_observation",
        put("subject", value={"reference": "Patient/pat r4"}),
        "value",
        "Observation.subject.reference",
    ),
    case(
        "reference-wrong-target-type",
        "r4_observation",
        put("subject", value={"reference": "Medication/m1"}),
        "structure",
        "Observation.subject.reference",
    ),
    case(
        "reference-to-missing-contained",
        "r4_observation",
        put("subject", value={"reference": "#nowhere"}),
        "invariant",
        "Observation.subject.reference",
    ),
    case(
        "reference-as-string",
        "r4_observation",
        put("subject", value="Patient/pat-r4"),
        "structure",
        "Observation.subject",
    ),
    case(
        "reference-unknown-element",
        "r4_observation",
        put("subject", "ref", value="Patient/pat-r4"),
        "structure",
        "Observation.subject.ref",
    ),
    case(
        "contained-without-resource-type",
        "r4_observation",
        both(put("contained", value=[{"id": "sp"}]), put("specimen", value={"reference": "#sp"})),
        "structure",
        "Observation.contained[0]",
    ),
    # --- extensions --------------------------------------------------------------------
    case(
        "extension-without-url",
        "r4_patient",
        put("extension", value=[{"valueString": "x"}]),
        "structure",
        "Patient.extension[0]",
        ("required", "Patient.extension[0].url"),
    ),
    case(
        "extension-value-and-children",
        "r4_patient",
        put(
            "extension",
            value=[
                {
                    "url": "http://example.org/ext",
                    "valueString": "x",
                    "extension": [{"url": "a", "valueString": "y"}],
                }
            ],
        ),
        "invariant",
        "Patient.extension[0]",
    ),
    case(
        "extension-unknown-element",
        "r4_patient",
        put("extension", value=[{"url": "http://example.org/ext", "valueStrng": "x"}]),
        "structure",
        "Patient.extension[0].valueStrng",
    ),
    case(
        "core-extension-wrong-value-type",
        "r4_patient",
        put(
            "extension",
            value=[
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                    "valueString": "東京",
                }
            ],
        ),
        "structure",  # the extension's definition allows valueAddress only
        "Patient.extension[0].valueString",
        ("required", "Patient.extension[0].value[x]"),
    ),
    case(
        "core-extension-wrong-context",
        "r4_observation",
        put(
            "extension",
            value=[
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                    "valueAddress": {"text": "東京"},
                }
            ],
        ),
        "structure",
        "Observation.extension[0]",
    ),
    case(
        "primitive-extension-length-mismatch",
        "r4_patient",
        put(
            "name",
            0,
            "_given",
            value=[None, {"extension": [{"url": "http://e.org/x", "valueString": "y"}]}],
        ),
        "structure",
        "Patient.name[0].given",
    ),
    case(
        "modifier-extension-without-url",
        "r4_patient",
        put("modifierExtension", value=[{"valueBoolean": True}]),
        "structure",
        "Patient.modifierExtension[0]",
        ("required", "Patient.modifierExtension[0].url"),
    ),
    # --- JP Core profiles --------------------------------------------------------------
    case(
        "jp-patient-no-identifier",
        "jp_patient",
        remove("identifier"),
        "required",
        "Patient.identifier",
    ),
    case(
        "jp-patient-bad-birthdate",
        "jp_patient",
        put("birthDate", value="1970-02-29"),
        "value",
        "Patient.birthDate",
    ),
    case(
        "jp-patient-gender-code",
        "jp_patient",
        put("gender", value="男"),
        "code-invalid",
        "Patient.gender",
    ),
    case(
        "jp-patient-representation-not-in-value-set",
        "jp_patient",
        put("name", 0, "extension", 0, "valueCode", value="KANJI"),
        "code-invalid",
        "Patient.name[0].extension[0].valueCode",
    ),
    case(
        "jp-medreq-no-rp-number",
        "jp_medication_request",
        remove("identifier", 0),
        "required",
        "MedicationRequest.identifier",
    ),
    case(
        "jp-medreq-no-order-in-rp",
        "jp_medication_request",
        remove("identifier", 1),
        "required",
        "MedicationRequest.identifier",
    ),
    case(
        "jp-medreq-no-authored-on",
        "jp_medication_request",
        remove("authoredOn"),
        "required",
        "MedicationRequest.authoredOn",
    ),
    case(
        "jp-medreq-no-subject",
        "jp_medication_request",
        remove("subject"),
        "required",
        "MedicationRequest.subject",
    ),
    case(
        "jp-medreq-intent-code",
        "jp_medication_request",
        put("intent", value="prescription"),
        "code-invalid",
        "MedicationRequest.intent",
    ),
    case(
        "jp-medreq-medication-reference-not-allowed",
        "jp_medication_request",
        both(
            remove("medicationCodeableConcept"),
            put("medicationReference", value={"reference": "Medication/m1"}),
        ),
        "structure",  # JP Core allows medicationCodeableConcept only
        "MedicationRequest.medicationReference",
        ("required", "MedicationRequest.medication[x]"),
    ),
    case(
        "jp-medreq-subject-to-group-not-allowed",
        "jp_medication_request",
        put("subject", value={"reference": "Group/g1"}),
        "structure",
        "MedicationRequest.subject.reference",
    ),
    case(
        "jp-medreq-dose-quantity-string",
        "jp_medication_request",
        put("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value", value="1"),
        "value",
        "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.value",
    ),
    case(
        "jp-medreq-timing-period-unit",
        "jp_medication_request",
        put("dosageInstruction", 0, "timing", "repeat", "periodUnit", value="day"),
        "code-invalid",
        "MedicationRequest.dosageInstruction[0].timing.repeat.periodUnit",
    ),
    case(
        "jp-medreq-profile-on-wrong-type",
        "r4_patient",
        put("meta", value={"profile": [JP_MEDREQ]}),
        "structure",
        "Patient",
    ),
    # --- JP-CLINS: Patient -------------------------------------------------------------
    case(
        "ecs-patient-no-member-id",
        "clins_patient",
        remove("identifier", 1),
        "invariant",
        "Patient",
    ),
    case(
        "ecs-patient-bad-member-id",
        "clins_patient",
        put("identifier", 1, "value", value="6139871:1234:5678:01"),
        "invariant",
        "Patient",
    ),
    case(
        "ecs-patient-bad-local-id-system",
        "clins_patient",
        put("identifier", 0, "system", value="urn:oid:1.2.392.100495.20.3.51.21311234567"),
        "invariant",
        "Patient",
    ),
    case(
        "ecs-patient-zenkaku-space-in-name",
        "clins_patient",
        put("name", 0, "text", value="鈴木　一郎"),
        "invariant",
        "Patient",
    ),
    case("ecs-patient-no-gender", "clins_patient", remove("gender"), "required", "Patient.gender"),
    case(
        "ecs-patient-no-birthdate",
        "clins_patient",
        remove("birthDate"),
        "required",
        "Patient.birthDate",
    ),
    case("ecs-patient-no-name", "clins_patient", remove("name"), "required", "Patient.name"),
    case(
        "ecs-patient-name-no-family",
        "clins_patient",
        remove("name", 0, "family"),
        "required",
        "Patient.name[0].family",
    ),
    case(
        "ecs-patient-two-addresses",
        "clins_patient",
        append("address", value={"text": "京都府京都市"}),
        "structure",
        "Patient.address",
    ),
    case(
        "ecs-patient-no-meta-profile",
        "clins_patient",
        remove("meta", "profile"),
        "required",
        "Patient.meta.profile",
        profiles=(PATIENT_ECS,),
    ),
    # --- JP-CLINS: Condition -----------------------------------------------------------
    case(
        "ecs-condition-no-medis-coding",
        "clins_condition",
        put("code", "coding", 0, "system", value="http://example.org/local-disease"),
        "required",
        "Condition.code.coding",
    ),
    case(
        "ecs-condition-coding-no-display",
        "clins_condition",
        remove("code", "coding", 0, "display"),
        "required",
        "Condition.code.coding[0].display",
    ),
    case(
        "ecs-condition-no-code-text",
        "clins_condition",
        remove("code", "text"),
        "required",
        "Condition.code.text",
    ),
    case(
        "ecs-condition-no-identifier",
        "clins_condition",
        remove("identifier"),
        "required",
        "Condition.identifier",
    ),
    case(
        "ecs-condition-identifier-wrong-system",
        "clins_condition",
        put("identifier", 0, "system", value="http://example.org/ids"),
        "required",
        "Condition.identifier",
    ),
    case(
        "ecs-condition-no-category",
        "clins_condition",
        remove("category"),
        "required",
        "Condition.category",
    ),
    case(
        "ecs-condition-two-categories",
        "clins_condition",
        append("category", value={"text": "主訴"}),
        "structure",
        "Condition.category",
    ),
    case(
        "ecs-condition-verification-status-code",
        "clins_condition",
        put("verificationStatus", "coding", 0, "code", value="sure"),
        "code-invalid",
        "Condition.verificationStatus",
    ),
    case(
        "ecs-condition-verification-status-wrong-system",
        "clins_condition",
        put("verificationStatus", "coding", 0, "system", value="http://example.org/vs"),
        "code-invalid",
        "Condition.verificationStatus",
    ),
    case(
        "ecs-condition-tag-not-in-closed-slicing",
        "clins_condition",
        put("meta", "tag", 0, "code", value="SECRET"),
        "structure",
        "Condition.meta.tag[0]",
    ),
    case(
        "ecs-condition-no-subject",
        "clins_condition",
        remove("subject"),
        "required",
        "Condition.subject",
    ),
    case(
        "ecs-condition-no-last-updated",
        "clins_condition",
        remove("meta", "lastUpdated"),
        "required",
        "Condition.meta.lastUpdated",
    ),
    case(
        "ecs-condition-institution-value-type",
        "clins_condition",
        put("extension", 0, value={"url": INSTITUTION_EXT, "valueString": "1311234567"}),
        "structure",
        "Condition.extension[0].valueString",
    ),
    case(
        "ecs-condition-onset-bad-date",
        "clins_condition",
        put("onsetDateTime", value="2023-11-31"),
        "value",
        "Condition.onsetDateTime",
    ),
    case(
        "ecs-condition-asserter-unresolved",
        "clins_condition",
        put("asserter", value={"reference": "#nobody"}),
        "invariant",
        "Condition.asserter.reference",
    ),
    # --- JP-CLINS: Observation ---------------------------------------------------------
    case(
        "ecs-observation-no-institution",
        "clins_observation",
        remove("extension", 0),
        "invariant",
        "Observation",
    ),
    case(
        "ecs-observation-no-laboratory-category",
        "clins_observation",
        put("category", 0, "coding", 0, "code", value="vital-signs"),
        "required",  # no category matches the laboratory slice
        "Observation.category",
    ),
    case(
        "ecs-observation-no-specimen",
        "clins_observation",
        both(remove("specimen"), remove("contained", 1)),
        "required",
        "Observation.specimen",
    ),
    case(
        "ecs-observation-no-effective",
        "clins_observation",
        remove("effectiveDateTime"),
        "required",
        "Observation.effective[x]",
    ),
    case(
        "ecs-observation-uncoded-fixed-code",
        "clins_observation",
        append(
            "code",
            "coding",
            value={
                "system": "http://jpfhir.jp/fhir/clins/CodeSystem/JP_CLINS_ObsLabResult_Uncoded_CS",
                "code": "12345",
                "display": "未標準化コード項目(JLAC)",
            },
        ),
        "value",
        "Observation.code.coding[2].code",
    ),
    case(
        "ecs-observation-core-labo-wrong-code",
        "clins_observation",
        put("code", "coding", 1, "code", value="3A016000002327101"),
        "code-invalid",
        "Observation.code.coding[1].code",
    ),
    case(
        "ecs-observation-status-code",
        "clins_observation",
        put("status", value="finished"),
        "code-invalid",
        "Observation.status",
    ),
    case(
        "ecs-observation-value-as-string-number",
        "clins_observation",
        put("valueQuantity", "value", value="4.1"),
        "value",
        "Observation.valueQuantity.value",
    ),
    case(
        "ecs-observation-no-code-text",
        "clins_observation",
        remove("code", "text"),
        "required",
        "Observation.code.text",
    ),
    # --- JP-CLINS: AllergyIntolerance --------------------------------------------------
    case(
        "ecs-allergy-type-code",
        "clins_allergy",
        put("type", value="allergic"),
        "code-invalid",
        "AllergyIntolerance.type",
    ),
    case(
        "ecs-allergy-no-patient",
        "clins_allergy",
        remove("patient"),
        "required",
        "AllergyIntolerance.patient",
    ),
    case(
        "ecs-allergy-category-code",
        "clins_allergy",
        put("category", 0, value="drug"),
        "code-invalid",
        "AllergyIntolerance.category[0]",
    ),
    case(
        "ecs-allergy-criticality-code",
        "clins_allergy",
        put("criticality", value="severe"),
        "code-invalid",
        "AllergyIntolerance.criticality",
    ),
    case(
        "ecs-allergy-reaction-no-manifestation",
        "clins_allergy",
        remove("reaction", 0, "manifestation"),
        "required",
        "AllergyIntolerance.reaction[0].manifestation",
    ),
    case(
        "ecs-allergy-clinical-status-wrong-code",
        "clins_allergy",
        put("clinicalStatus", "coding", 0, "code", value="current"),
        "code-invalid",
        "AllergyIntolerance.clinicalStatus",
    ),
    case(
        "ecs-allergy-ait-2-refuted-with-clinical-status",
        "clins_allergy",
        put("verificationStatus", "coding", 0, "code", value="entered-in-error"),
        "invariant",
        "AllergyIntolerance",
    ),
    # --- JP-CLINS: MedicationRequest ---------------------------------------------------
    case(
        "ecs-medreq-status-pattern",
        "clins_medication_request",
        put("status", value="active"),
        "value",
        "MedicationRequest.status",
    ),
    case(
        "ecs-medreq-intent-pattern",
        "clins_medication_request",
        put("intent", value="plan"),
        "value",
        "MedicationRequest.intent",
    ),
    case(
        "ecs-medreq-no-standard-code",
        "clins_medication_request",
        put("medicationCodeableConcept", "coding", 0, "system", value="http://example.org/drugs"),
        "invariant",
        "MedicationRequest",
    ),
    case(
        "ecs-medreq-no-dosage",
        "clins_medication_request",
        remove("dosageInstruction"),
        "required",
        "MedicationRequest.dosageInstruction",
    ),
    case(
        "ecs-medreq-supply-duration-unit",
        "clins_medication_request",
        put("dispenseRequest", "expectedSupplyDuration", "code", value="wk"),
        "value",
        "MedicationRequest.dispenseRequest.expectedSupplyDuration.code",
    ),
    case(
        "ecs-medreq-only-one-identifier",
        "clins_medication_request",
        remove("identifier", 1),
        "required",
        "MedicationRequest.identifier",
    ),
    case(
        "ecs-medreq-no-medication-text",
        "clins_medication_request",
        remove("medicationCodeableConcept", "text"),
        "required",
        "MedicationRequest.medicationCodeableConcept.text",
    ),
    case(
        "ecs-medreq-quantity-no-code",
        "clins_medication_request",
        remove("dispenseRequest", "quantity", "code"),
        "required",
        "MedicationRequest.dispenseRequest.quantity.code",
    ),
    # --- profiles requested by the caller ----------------------------------------------
    case(
        "unknown-requested-profile",
        "r4_patient",
        lambda resource: None,
        "not-supported",
        "Patient",
        profiles=("http://example.org/StructureDefinition/nothing",),
    ),
    case(
        "requested-profile-not-met",
        "r4_patient",
        lambda resource: None,
        "required",
        "Patient.name[0].text",
        ("invariant", "Patient"),
        profiles=(PATIENT_ECS,),
    ),
]


@pytest.fixture(scope="module")
def validator() -> ResourceValidator:
    built = build_validator(Settings(validation=True, required_profiles={}))
    assert built is not None
    return built


def _errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity in ("error", "fatal")]


def _describe(issues: list[Issue]) -> str:
    return "\n".join(f"  {i.severity} {i.code} {list(i.expression)}: {i.message}" for i in issues)


@pytest.mark.parametrize("name", sorted(BASES))
def test_every_base_resource_is_valid(validator: ResourceValidator, name: str) -> None:
    issues = validator.validate(BASES[name]())
    assert not _errors(issues), f"{name} should be valid:\n{_describe(issues)}"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("mutation", CASES, ids=[c.id for c in CASES])
def test_mutation_yields_exactly_the_expected_issue(
    validator: ResourceValidator, mutation: Case
) -> None:
    resource = BASES[mutation.base]()
    mutation.mutate(resource)
    issues = validator.validate(resource, profiles=mutation.profiles)
    errors = _errors(issues)
    found = sorted({(i.code, e) for i in errors for e in i.expression[:1]})
    missing = [pair for pair in mutation.expected if pair not in found]
    unexpected = [pair for pair in found if pair not in mutation.expected]
    report = f"expected {list(mutation.expected)}\n{_describe(issues)}"
    assert not missing, f"missing {missing}; {report}"
    assert not unexpected, f"unexpected {unexpected}; {report}"
    for issue in errors:  # every message is bilingual: Japanese, then English
        assert " / " in issue.message
