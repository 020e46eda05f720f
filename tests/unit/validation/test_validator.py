"""The profile validation engine, rule by rule (tsunagu.validation.validator.Validator).

Each test starts from a small valid resource, breaks one thing and checks the issue code
and FHIRPath expression reported (and that nothing else is an error).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tsunagu.fhir.outcomes import Issue
from tsunagu.identity.synthetic.clinical import condition_status, disease_code
from tsunagu.validation import ResourceValidator
from tsunagu.validation.ports import CodeCheck
from tsunagu.validation.validator import Validator

Json = dict[str, Any]

ECS = "http://jpfhir.jp/fhir/eCS/StructureDefinition"
CLINS = "http://jpfhir.jp/fhir/clins/StructureDefinition"
INSTITUTION = "http://jpfhir.jp/fhir/clins/Extension/StructureDefinition/JP_eCS_InstitutionNumber"


class FakeTerminology:
    """Knows one value set: administrative-gender without `unknown`."""

    def check_code(self, valueset_url: str, system: str | None, code: str) -> CodeCheck:
        if valueset_url != "http://hl7.org/fhir/ValueSet/administrative-gender":
            return "unknown"
        return "valid" if code in ("male", "female", "other") else "invalid"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(terminology=FakeTerminology())


def errors(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(i.code, i.expression[0]) for i in issues if i.severity == "error"]


def warnings(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(i.code, i.expression[0]) for i in issues if i.severity == "warning"]


PATIENT: Json = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"family": "Yamada", "given": ["Taro", "Ichiro"]}],
    "gender": "male",
    "birthDate": "1970-01-01",
}


def patient(**changes: Any) -> Json:
    resource = copy.deepcopy(PATIENT)
    resource.update(changes)
    return resource


def test_validator_implements_the_port(validator: Validator) -> None:
    port: ResourceValidator = validator
    assert port.validate(patient()) == []


# ---- structure


def test_unknown_element(validator: Validator) -> None:
    assert errors(validator.validate(patient(nickname="x"))) == [("structure", "Patient.nickname")]


def test_unknown_resource_type(validator: Validator) -> None:
    assert errors(validator.validate({"resourceType": "Patients"})) == [
        ("structure", "Resource.resourceType")
    ]


def test_repeating_element_must_be_an_array(validator: Validator) -> None:
    assert errors(validator.validate(patient(name={"family": "x"}))) == [
        ("structure", "Patient.name")
    ]


def test_single_element_must_not_be_an_array(validator: Validator) -> None:
    assert errors(validator.validate(patient(gender=["male"]))) == [("structure", "Patient.gender")]


def test_empty_values_are_rejected(validator: Validator) -> None:
    assert errors(validator.validate(patient(name=[{}]))) == [("structure", "Patient.name[0]")]
    assert errors(validator.validate(patient(name=[]))) == [("structure", "Patient.name")]


def test_wrong_type_in_nested_element(validator: Validator) -> None:
    resource = patient(name=[{"family": "Yamada", "given": ["Taro", 7]}])
    assert errors(validator.validate(resource)) == [("value", "Patient.name[0].given[1]")]


@pytest.mark.parametrize(
    ("field", "value"),
    [("birthDate", "1970-02-30"), ("birthDate", "1970/01/01"), ("active", "true"), ("id", "a_b")],
)
def test_primitive_formats(validator: Validator, field: str, value: Any) -> None:
    assert errors(validator.validate(patient(**{field: value}))) == [("value", f"Patient.{field}")]


def test_choice_types(validator: Validator) -> None:
    assert validator.validate(patient(deceasedBoolean=False)) == []
    assert errors(validator.validate(patient(deceasedString="no"))) == [
        ("structure", "Patient.deceasedString")
    ]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueQuantity": {"value": "high"},
    }
    assert errors(validator.validate(observation)) == [("value", "Observation.valueQuantity.value")]


def test_required_element(validator: Validator) -> None:
    observation = {"resourceType": "Observation", "code": {"text": "x"}}
    assert errors(validator.validate(observation)) == [("required", "Observation.status")]


def test_primitive_extensions(validator: Validator) -> None:
    extension = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason"}
    extension["valueCode"] = "unknown"
    assert validator.validate(patient(_birthDate={"extension": [extension]})) == []
    resource = patient(name=[{"given": [None, "Ichiro"], "_given": [{"id": "g1"}, None]}])
    assert validator.validate(resource) == []
    resource = patient(name=[{"given": [None, "Ichiro"]}])
    assert errors(validator.validate(resource)) == [("structure", "Patient.name[0].given[0]")]
    assert errors(validator.validate(patient(_birthDate={"colour": "red"}))) == [
        ("structure", "Patient.birthDate.colour")
    ]


# ---- contained resources and references


def test_contained_resources_are_validated_as_resources(validator: Validator) -> None:
    resource = patient(
        contained=[{"resourceType": "Organization", "id": "o1", "name": 5}],
        managingOrganization={"reference": "#o1"},
    )
    assert errors(validator.validate(resource)) == [("value", "Patient.contained[0].name")]


def test_contained_rules(validator: Validator) -> None:
    inner = {"resourceType": "Organization", "id": "o1", "name": "o", "meta": {"versionId": "1"}}
    unreferenced = patient(contained=[inner])
    assert sorted(errors(validator.validate(unreferenced))) == [
        ("invariant", "Patient.contained[0]"),  # dom-3
        ("invariant", "Patient.contained[0]"),  # dom-4
    ]
    nested = dict(inner, meta={}, contained=[{"resourceType": "Organization", "id": "x"}])
    resource = patient(contained=[nested], managingOrganization={"reference": "#o1"})
    found = errors(validator.validate(resource))
    assert ("invariant", "Patient.contained[0]") in found  # dom-2


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Organization/o1", []),
        ("Organization/o1/_history/2", []),
        ("http://example.org/fhir/Organization/o1", []),
        ("urn:uuid:c757873d-ec9a-4326-a141-556f43239520", []),
        ("Organization?identifier=x", []),
        ("#missing", [("invariant", "Patient.managingOrganization.reference")]),
        ("Organisation/o1", [("value", "Patient.managingOrganization.reference")]),
        ("urn:uuid:not-a-uuid", [("value", "Patient.managingOrganization.reference")]),
        ("Patient/p2", [("structure", "Patient.managingOrganization.reference")]),
    ],
)
def test_reference_format_and_target(
    validator: Validator, reference: str, expected: list[tuple[str, str]]
) -> None:
    resource = patient(managingOrganization={"reference": reference})
    assert errors(validator.validate(resource)) == expected


# ---- extensions


def test_unknown_extension_is_a_warning(validator: Validator) -> None:
    resource = patient(extension=[{"url": "http://example.org/ext", "valueString": "x"}])
    issues = validator.validate(resource)
    assert errors(issues) == []
    assert warnings(issues) == [("structure", "Patient.extension[0]")]


def test_extension_shape(validator: Validator) -> None:
    both = {
        "url": "http://example.org/ext",
        "valueString": "x",
        "extension": [{"url": "a", "valueString": "y"}],
    }
    assert errors(validator.validate(patient(extension=[both]))) == [
        ("invariant", "Patient.extension[0]")
    ]
    assert ("structure", "Patient.extension[0]") in errors(
        validator.validate(patient(extension=[{"valueString": "x"}]))
    )


def test_extension_context(validator: Validator) -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "extension": [{"url": url, "valueAddress": {"city": "Tokyo"}}],
    }
    assert errors(validator.validate(observation)) == [("structure", "Observation.extension[0]")]


def test_known_extension_definition_is_applied(validator: Validator) -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
    good = patient(extension=[{"url": url, "valueAddress": {"city": "Tokyo"}}])
    assert validator.validate(good) == []
    bad = patient(extension=[{"url": url, "valueString": "Tokyo"}])
    assert errors(validator.validate(bad)) == [
        ("structure", "Patient.extension[0].valueString"),  # not an allowed type
        ("required", "Patient.extension[0].value[x]"),  # and the value is 1..1
    ]


# ---- bindings and invariants


def test_required_binding_uses_the_terminology_port(validator: Validator) -> None:
    assert errors(validator.validate(patient(gender="unknown"))) == [
        ("code-invalid", "Patient.gender")
    ]
    # Without terminology nothing can be said about the code.
    assert Validator(validator.index).validate(patient(gender="unknown")) == []


def test_core_invariant(validator: Validator) -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueString": "x",
        "dataAbsentReason": {"text": "y"},
    }
    assert errors(validator.validate(observation)) == [("invariant", "Observation")]  # obs-6
    period = patient(
        contact=[{"name": {"text": "x"}, "period": {"start": "2020-02-01", "end": "2020-01-01"}}]
    )
    assert errors(validator.validate(period)) == [("invariant", "Patient.contact[0].period")]


# ---- profiles


def test_meta_profile_unknown_is_a_warning_and_parameter_unknown_an_error(
    validator: Validator,
) -> None:
    resource = patient(meta={"profile": ["http://example.org/StructureDefinition/nope"]})
    issues = validator.validate(resource)
    assert errors(issues) == []
    assert warnings(issues) == [("not-supported", "Patient.meta.profile[0]")]
    issues = validator.validate(patient(), profiles=["http://example.org/nope"])
    assert errors(issues) == [("not-supported", "Patient")]


def test_profile_for_another_type(validator: Validator) -> None:
    issues = validator.validate(patient(), profiles=[f"{ECS}/JP_Condition_eCS"])
    assert errors(issues) == [("structure", "Patient")]


def condition_ecs() -> Json:
    return {
        "resourceType": "Condition",
        "meta": {
            "lastUpdated": "2024-01-02T10:00:00+09:00",
            "profile": [f"{ECS}/JP_Condition_eCS"],
        },
        "extension": [
            {
                "url": INSTITUTION,
                "valueIdentifier": {
                    "system": "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no",
                    "value": "1318814790",
                },
            }
        ],
        "identifier": [
            {
                "system": "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier",
                "value": "c1",
            }
        ],
        **condition_status("encounter-diagnosis"),
        "code": disease_code("20064049", "x"),
        "subject": {"reference": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
        "onsetDateTime": "2024-01-01",
        "recordedDate": "2024-01-02",
    }


def test_jp_clins_condition_is_valid(validator: Validator) -> None:
    assert errors(validator.validate(condition_ecs())) == []


def test_slice_cardinality_and_fixed_value(validator: Validator) -> None:
    resource = condition_ecs()
    resource["code"]["coding"][0]["system"] = "http://example.org/other"
    found = errors(validator.validate(resource))
    assert ("required", "Condition.code.coding") in found  # medisRecordNo slice 1..*


def test_profile_invariant_with_institution_number(validator: Validator) -> None:
    resource = condition_ecs()
    resource["extension"][0]["valueIdentifier"]["value"] = "123"
    found = errors(validator.validate(resource))
    assert found == [("invariant", "Condition.extension[0]")]


def test_version_suffix_in_meta_profile(validator: Validator) -> None:
    resource = condition_ecs()
    resource["meta"]["profile"] = [f"{ECS}/JP_Condition_eCS|1"]  # as JP-CLINS examples do
    resource["onsetDateTime"] = "2024-13-01"
    assert errors(validator.validate(resource)) == [("value", "Condition.onsetDateTime")]


def test_bundle_entries_are_validated(validator: Validator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "resource": patient()},
            {"resource": patient(gender=3)},
        ],
    }
    assert errors(validator.validate(bundle)) == [("value", "Bundle.entry[1].resource.gender")]


def test_jp_clins_bundle_invariants(validator: Validator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "meta": {"profile": [f"{CLINS}/JP_Bundle_CLINS"]},
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "resource": patient()}
        ],
    }
    found = errors(validator.validate(bundle))
    # No meta.tag with the resource type, no identifier, Patient not JP_Patient_eCS ...
    assert ("invariant", "Bundle") in found
    assert all(expression.startswith("Bundle") for _, expression in found)


def test_messages_are_bilingual_and_carry_no_values(validator: Validator) -> None:
    secret = "Yamada-Secret"
    resource = patient(name=[{"family": secret, "given": [1]}], nickname=secret)
    for issue in validator.validate(resource):
        assert secret not in issue.message
        assert " / " in issue.message


def test_numbers_as_the_server_parses_them(validator: Validator) -> None:
    # The HTTP layer parses JSON numbers with a fraction into Decimal (fhir/jsonio.py), so
    # decimals, quantity comparisons and arithmetic in invariants must accept them.
    from tsunagu.fhir.jsonio import loads

    observation = loads(
        b'{"resourceType": "Observation", "status": "final", "code": {"text": "HbA1c"},'
        b' "valueQuantity": {"value": 6.50, "unit": "%"},'
        b' "referenceRange": [{"low": {"value": 4.6, "unit": "%"},'
        b' "high": {"value": 6.2, "unit": "%"}}]}'
    )
    assert errors(validator.validate(observation)) == []
    observation["valueQuantity"]["value"] = "6.5"
    assert errors(validator.validate(observation)) == [("value", "Observation.valueQuantity.value")]
