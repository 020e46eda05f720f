"""Search expressions compile to fast extractors that select what fhirpathpy selects."""

from __future__ import annotations

import json
import re
import tarfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError
from decimal import Decimal
from pathlib import Path
from typing import Any

import fhirpathpy
import orjson
import pytest
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser import parse

from tsunagu.fhir.definitions import Definitions, load_definitions
from tsunagu.search.fhirpath import (
    Extractor,
    ExtractorCache,
    FHIRPathError,
    TypedValue,
    compile_path,
    reference_type,
)

Json = dict[str, Any]

EXAMPLES = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "fhir-r4"
    / "hl7.fhir.r4.examples-4.0.1.tgz"
)
# The conformance and terminology modules: definitions rather than examples of data.
CONFORMANCE_TYPES = frozenset(
    {
        "CapabilityStatement",
        "StructureDefinition",
        "ImplementationGuide",
        "SearchParameter",
        "MessageDefinition",
        "OperationDefinition",
        "CompartmentDefinition",
        "StructureMap",
        "GraphDefinition",
        "ExampleScenario",
        "CodeSystem",
        "ValueSet",
        "ConceptMap",
        "NamingSystem",
        "TerminologyCapabilities",
    }
)
CLINICAL_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "AllergyIntolerance",
    "Encounter",
    "Procedure",
    "Immunization",
    "DiagnosticReport",
    "Coverage",
    "Practitioner",
    "Organization",
    "MedicationDispense",
    "Composition",
    "DocumentReference",
    "Consent",
    "AuditEvent",
)


@pytest.fixture(scope="module")
def defs() -> Definitions:
    return load_definitions()


@pytest.fixture(scope="module")
def cache(defs: Definitions) -> ExtractorCache:
    return ExtractorCache(defs)


@pytest.fixture
def select(cache: ExtractorCache) -> Callable[[str, Json], list[Any]]:
    """The values an expression selects in a resource."""
    return lambda expression, resource: [v.value for v in cache.get(expression)(resource)]


@pytest.fixture
def typed(cache: ExtractorCache) -> Callable[[str, Json], list[tuple[Any, str | None]]]:
    """(value, FHIR type) pairs an expression selects in a resource."""
    return lambda expression, resource: [
        (v.value, v.fhir_type) for v in cache.get(expression)(resource)
    ]


Select = Callable[[str, Json], list[Any]]
Typed = Callable[[str, Json], list[tuple[Any, str | None]]]


# ------------------------------------------------------------------------- navigation


def test_member_navigation_flattens_arrays(select: Select, typed: Typed) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Yamada", "given": ["Taro", "T"]}, {"given": ["Hanako"]}],
    }
    assert select("Patient.name.given", patient) == ["Taro", "T", "Hanako"]
    assert typed("Patient.name.family", patient) == [("Yamada", "string")]
    assert [t for _, t in typed("Patient.name", patient)] == ["HumanName", "HumanName"]
    assert select("Patient.address.city", patient) == []


def test_primitive_extensions_are_not_values(select: Select) -> None:
    extension = {"extension": [{"url": "http://example.org/x", "valueString": "kana"}]}
    name: Json = {"family": "Yamada", "_family": extension, "given": [None, "Taro"]}
    name["_given"] = [extension, None]
    patient = {"resourceType": "Patient", "name": [name], "_birthDate": extension}
    assert select("Patient.name.family", patient) == ["Yamada"]
    assert select("Patient.name.given", patient) == ["Taro"]
    assert select("Patient.birthDate", patient) == []


def test_choice_elements_are_navigated_without_the_type_suffix(typed: Typed) -> None:
    quantity = {"value": 6.3, "unit": "mmol/L"}
    observation = {"resourceType": "Observation", "valueQuantity": quantity}
    assert typed("Observation.value", observation) == [(quantity, "Quantity")]
    observation = {"resourceType": "Observation", "valueString": "positive"}
    assert typed("Observation.value", observation) == [("positive", "string")]
    patient = {"resourceType": "Patient", "deceasedDateTime": "2020-01-02"}
    assert typed("Patient.deceased", patient) == [("2020-01-02", "dateTime")]


def test_backbone_elements_carry_their_owner_key(cache: ExtractorCache) -> None:
    observation = {"resourceType": "Observation", "component": [{"code": {"text": "x"}}]}
    (component,) = cache.get("Observation.component")(observation)
    assert component.fhir_type == "BackboneElement"
    assert component.owner == "Observation.component"
    questionnaire = {
        "resourceType": "Questionnaire",
        "item": [{"linkId": "1", "item": [{"linkId": "1.1", "code": [{"code": "c"}]}]}],
    }
    (code,) = cache.get("Questionnaire.item.item.code")(questionnaire)
    assert (code.value, code.fhir_type) == ({"code": "c"}, "Coding")


def test_contained_and_bundled_resources_are_typed_by_resource_type(typed: Typed) -> None:
    organization = {"resourceType": "Organization", "id": "o1"}
    patient = {"resourceType": "Patient", "contained": [organization]}
    assert typed("Patient.contained", patient) == [(organization, "Organization")]
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": patient}, {"resource": organization}],
    }
    assert typed("Bundle.entry[0].resource", bundle) == [(patient, "Patient")]
    assert typed("Bundle.entry[1].resource", bundle) == [(organization, "Organization")]
    assert typed("Bundle.entry[2].resource", bundle) == []
    assert typed("Bundle.entry.resource.ofType(Organization)", bundle) == [
        (organization, "Organization")
    ]


def test_type_name_roots_match_the_type_and_its_supertypes(select: Select) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"lastUpdated": "2024-01-01T00:00:00Z"},
    }
    assert select("Resource.id", patient) == ["p1"]
    assert select("DomainResource.id", patient) == ["p1"]
    assert select("Resource.meta.lastUpdated", patient) == ["2024-01-01T00:00:00Z"]
    assert select("Patient.id", patient) == ["p1"]
    assert select("Observation.id", patient) == []
    assert select("Bundle.id", {"resourceType": "Bundle", "id": "b"}) == ["b"]
    assert select("DomainResource.id", {"resourceType": "Bundle", "id": "b"}) == []
    assert select("Patient.id", {"id": "no-type"}) == []


# ---------------------------------------------------------------------- unions and types


def test_union_applies_only_branches_for_the_resource_type(select: Select) -> None:
    expression = "Patient.name.family | Practitioner.name.family | Person.name.family"
    name = {"name": [{"family": "Sato"}]}
    assert select(expression, {"resourceType": "Patient", **name}) == ["Sato"]
    assert select(expression, {"resourceType": "Practitioner", **name}) == ["Sato"]
    assert select(expression, {"resourceType": "Observation", **name}) == []


def test_union_removes_duplicates_but_paths_do_not(select: Select) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"given": ["Ken"]}, {"given": ["Ken"]}],
        "telecom": [{"system": "phone", "value": "1"}, {"value": "1", "system": "phone"}],
    }
    assert select("Patient.name.given", patient) == ["Ken", "Ken"]
    assert select("Patient.name.given | Patient.name.given", patient) == ["Ken"]
    assert len(select("Patient.telecom | Person.telecom", patient)) == 1
    assert select("Patient.active | Patient.gender", {"resourceType": "Patient"}) == []


def test_as_filters_each_item_by_type(typed: Typed) -> None:
    observation = {
        "resourceType": "Observation",
        "valueQuantity": {"value": 1},
        "component": [
            {"valueQuantity": {"value": 120}},
            {"valueString": "n/a"},
            {"valueQuantity": {"value": 80}},
        ],
    }
    quantities = [({"value": 120}, "Quantity"), ({"value": 80}, "Quantity")]
    assert typed("(Observation.component.value as Quantity)", observation) == quantities
    assert typed("Observation.component.value.as(Quantity)", observation) == quantities
    assert typed("Observation.component.value.ofType(Quantity)", observation) == quantities
    assert typed("Observation.component.value.ofType(string)", observation) == [("n/a", "string")]
    assert typed("(Observation.value as CodeableConcept)", observation) == []
    assert typed("(Observation.value as Quantity).value", observation) == [(1, "decimal")]


def test_type_tests_know_specializations_and_system_types(typed: Typed) -> None:
    condition = {"resourceType": "Condition", "onsetAge": {"value": 40, "code": "a"}}
    age = [({"value": 40, "code": "a"}, "Age")]
    assert typed("Condition.onset.as(Age)", condition) == age
    assert typed("Condition.onset.as(Quantity)", condition) == age  # Age is a Quantity
    assert typed("Condition.onset.as(FHIR.Age)", condition) == age
    assert typed("Condition.onset.as(Range)", condition) == []
    observation = {"resourceType": "Observation", "effectiveInstant": "2024-01-01T00:00:00Z"}
    assert typed("Observation.effective.as(DateTime)", observation) == [
        ("2024-01-01T00:00:00Z", "instant")
    ]
    assert typed("Observation.effective.as(dateTime)", observation) == []
    assert typed("Observation.status.as(System.String)", {**observation, "status": "final"}) == [
        ("final", "code")
    ]
    assert typed("Observation.status.as(string)", {**observation, "status": "final"}) == [
        ("final", "code")
    ]


def test_is_gives_a_boolean_for_a_single_item(select: Select) -> None:
    assert select(
        "Patient.deceased is boolean", {"resourceType": "Patient", "deceasedBoolean": True}
    ) == [True]
    patient = {"resourceType": "Patient", "deceasedDateTime": "2020"}
    assert select("Patient.deceased is boolean", patient) == [False]
    assert select("Patient.deceased.is(dateTime)", patient) == [True]
    assert select("Patient.active is boolean", patient) == []
    two_names = {"resourceType": "Patient", "name": [{}, {}]}
    with pytest.raises(FHIRPathError, match="single"):
        select("Patient.name is HumanName", two_names)


# --------------------------------------------------------------------- where and friends


def test_where_with_the_conditions_of_r4_expressions(select: Select) -> None:
    phone = {"system": "phone", "value": "03-1234"}
    email = {"system": "email", "value": "a@example.jp"}
    official = {"use": "official", "family": "Sato"}
    extension = {"url": "http://example.org/a", "valueString": "x"}
    patient = {
        "resourceType": "Patient",
        "telecom": [phone, email],
        "name": [official, {"use": "nickname", "family": "Sa"}],
        "extension": [extension, {"url": "http://example.org/b", "valueString": "y"}],
        "identifier": [
            {"type": {"coding": [{"code": "MR"}]}, "value": "1"},
            {"type": {"coding": [{"code": "MR"}, {"code": "PI"}]}, "value": "2"},
        ],
    }
    assert select("Patient.telecom.where(system='phone')", patient) == [phone]
    assert select("Patient.telecom.where(system = 'email').value", patient) == ["a@example.jp"]
    assert select("Patient.name.where(use='official').family", patient) == ["Sato"]
    assert select("Patient.extension.where(url = 'http://example.org/a')", patient) == [extension]
    # `=` compares whole collections: two codings never equal one string.
    assert select("Patient.identifier.where(type.coding.code = 'MR').value", patient) == ["1"]
    assert select("Patient.telecom.where(system != 'phone')", patient) == [email]
    assert select("Patient.telecom.where(value.exists())", patient) == [phone, email]
    assert select("Patient.telecom.where(period.exists())", patient) == []
    assert select("Patient.telecom.where(system='phone' or system='email')", patient) == [
        phone,
        email,
    ]
    assert select("Patient.telecom.where(system='phone' and value='x')", patient) == []
    assert select("Patient.name.where(family.exists()).select(use)", patient) == [
        "official",
        "nickname",
    ]


def test_extension_function_returns_every_match(typed: Typed) -> None:
    first = {"url": "http://example.org/race", "valueCodeableConcept": {"text": "a"}}
    second = {"url": "http://example.org/race", "valueString": "b"}
    patient = {
        "resourceType": "Patient",
        "extension": [first, {"url": "http://example.org/other", "valueBoolean": True}, second],
    }
    race = "Patient.extension('http://example.org/race')"
    assert typed(race, patient) == [(first, "Extension"), (second, "Extension")]
    assert typed(f"{race}.value", patient) == [({"text": "a"}, "CodeableConcept"), ("b", "string")]
    assert typed("Patient.extension('http://example.org/none')", patient) == []


def test_first_last_and_indexers(select: Select) -> None:
    patient = {"resourceType": "Patient", "name": [{"family": "A"}, {"family": "B"}]}
    assert select("Patient.name.first().family", patient) == ["A"]
    assert select("Patient.name.last().family", patient) == ["B"]
    assert select("Patient.name[1].family", patient) == ["B"]
    assert select("Patient.name.tail().family", patient) == ["B"]
    assert select("Patient.name.count()", patient) == [2]
    assert select("Patient.telecom.first()", patient) == []


@pytest.mark.parametrize(
    ("deceased", "expected"),
    [
        ({"deceasedBoolean": True}, [True]),
        ({"deceasedBoolean": False}, [False]),
        ({"deceasedDateTime": "2020-02-02"}, [True]),
        ({}, [False]),
    ],
)
def test_exists_and_boolean_logic(select: Select, deceased: Json, expected: list[bool]) -> None:
    expression = "Patient.deceased.exists() and Patient.deceased != false"
    assert select(expression, {"resourceType": "Patient", **deceased}) == expected


def test_three_valued_logic(select: Select) -> None:
    patient = {"resourceType": "Patient", "active": True}
    assert select("Patient.active and Patient.gender.exists()", patient) == [False]
    assert select("Patient.active and Patient.gender", patient) == []
    assert select("Patient.active or Patient.gender", patient) == [True]
    assert select("Patient.gender.empty() implies Patient.active", patient) == [True]
    assert select("Patient.active xor true", patient) == [False]
    assert select("Patient.active.not()", patient) == [False]


# ---------------------------------------------------------------------------- resolve()


@pytest.mark.parametrize(
    ("reference", "is_patient"),
    [
        ({"reference": "Patient/123"}, True),
        ({"reference": "Patient/123/_history/2"}, True),
        ({"reference": "https://fhir.example.jp/r4/Patient/123"}, True),
        ({"reference": "https://fhir.example.jp/r4/Patient/123/_history/7"}, True),
        ({"reference": "#p1"}, True),
        ({"reference": "Group/123"}, False),
        ({"reference": "#o1"}, False),
        ({"reference": "#missing"}, False),
        ({"reference": "urn:uuid:04121321-4af5-424c-a0e1-ed3aab1c349d"}, False),
        ({"reference": "Patient?identifier=123"}, False),
        ({"reference": "Unknown/123"}, False),
        ({"identifier": {"value": "123"}, "type": "Patient"}, False),  # logical: unresolvable
        ({"display": "someone"}, False),
    ],
)
def test_resolve_is_a_type_reads_the_reference(
    select: Select, reference: Json, is_patient: bool
) -> None:
    observation = {
        "resourceType": "Observation",
        "contained": [
            {"resourceType": "Patient", "id": "p1"},
            {"resourceType": "Organization", "id": "o1"},
        ],
        "subject": reference,
    }
    expected = [reference] if is_patient else []
    assert select("Observation.subject.where(resolve() is Patient)", observation) == expected


def test_resolve_yields_the_contained_resource_or_a_typed_stub(typed: Typed) -> None:
    organization = {"resourceType": "Organization", "id": "o1", "name": "Clinic"}
    patient = {
        "resourceType": "Patient",
        "contained": [organization],
        "managingOrganization": {"reference": "#o1"},
        "generalPractitioner": [{"reference": "Practitioner/9"}, {"reference": "#"}],
    }
    assert typed("Patient.managingOrganization.resolve()", patient) == [
        (organization, "Organization")
    ]
    assert typed("Patient.managingOrganization.resolve().name", patient) == [("Clinic", "string")]
    assert typed("Patient.generalPractitioner.resolve()", patient) == [
        ({"resourceType": "Practitioner"}, "Practitioner"),
        (patient, "Patient"),
    ]


def test_reference_type(defs: Definitions) -> None:
    assert reference_type("Patient/1", defs) == "Patient"
    assert reference_type("http://x.org/fhir/Observation/a.b-c/_history/1", defs) == "Observation"
    assert reference_type("http://hl7.org/fhir/ValueSet/example|4.0.1", defs) == "ValueSet"
    assert reference_type("urn:oid:1.2.3", defs) is None
    assert reference_type("Patient", defs) is None
    assert reference_type("Foo/1", defs) is None


# ------------------------------------------------------------ composites and %resource


def test_components_evaluate_on_each_focus(cache: ExtractorCache) -> None:
    systolic = {"code": {"text": "systolic"}, "valueQuantity": {"value": 120}}
    diastolic = {"code": {"text": "diastolic"}, "valueString": "n/a"}
    observation = {
        "resourceType": "Observation",
        "code": {"text": "bp"},
        "component": [systolic, diastolic],
    }
    focus = cache.get("Observation | Observation.component")(observation)
    assert [f.value for f in focus] == [observation, systolic, diastolic]
    codes = [cache.get("code").evaluate([f], observation) for f in focus]
    assert [[c.value["text"] for c in found] for found in codes] == [
        ["bp"],
        ["systolic"],
        ["diastolic"],
    ]
    quantities = [cache.get("value.as(Quantity)").evaluate([f], observation) for f in focus]
    assert [[(q.value, q.fhir_type) for q in found] for found in quantities] == [
        [],
        [({"value": 120}, "Quantity")],
        [],
    ]


def test_percent_resource_is_the_resource(cache: ExtractorCache) -> None:
    sequence = {
        "resourceType": "MolecularSequence",
        "referenceSeq": {"chromosome": {"text": "1"}},
        "variant": [{"start": 1}, {"start": 2}],
    }
    (variant, _) = cache.get("MolecularSequence.variant")(sequence)
    found = cache.get("%resource.referenceSeq.chromosome").evaluate([variant], sequence)
    assert [(f.value, f.fhir_type) for f in found] == [({"text": "1"}, "CodeableConcept")]


# ------------------------------------------------------------------ fallback and caching


def test_expressions_outside_the_subset_run_on_fhirpathpy(defs: Definitions) -> None:
    patient = {
        "resourceType": "Patient",
        "birthDate": "1980-05-01",
        "name": [{"family": "A", "given": ["x"]}, {"family": "B", "given": ["y", "z"]}],
        "address": [{"city": "Kyoto", "line": ["1", "2"]}],
    }
    several = compile_path("Patient.name.where(given.count() > 1).family", defs)
    assert not several.fast
    assert [(v.value, v.fhir_type) for v in several(patient)] == [("B", "string")]
    born = compile_path("Patient.birthDate < @2000-01-01", defs)
    assert not born.fast
    assert [(v.value, v.fhir_type) for v in born(patient)] == [(True, "boolean")]
    # A union loses fhirpathpy's types; they are recovered from the resource.
    mixed = compile_path(
        "Patient.name.where(given.count() > 1) | Patient.address.where(line.count() > 1)", defs
    )
    assert [v.fhir_type for v in mixed(patient)] == ["HumanName", "Address"]
    assert compile_path("Resource.id.length() > 0", defs)({**patient, "id": "p"})[0].value


def test_forced_fallback_agrees_with_the_compiled_subset(defs: Definitions) -> None:
    observation = {
        "resourceType": "Observation",
        "id": "o",
        "component": [{"valueQuantity": {"value": 1}}, {"valueQuantity": {"value": 2}}],
        "subject": {"reference": "Patient/1"},
    }
    for expression in (
        "(Observation.component.value as Quantity)",  # fhirpathpy alone rejects this
        "Observation.component.value.as(Quantity)",
        "Resource.id",  # fhirpathpy alone matches root type names exactly
        "Observation.subject.where(resolve() is Patient)",
        "Observation.component | Observation.subject",
    ):
        slow = compile_path(expression, defs, allow_fast=False)
        fast = compile_path(expression, defs)
        assert fast.fast
        assert not slow.fast
        assert slow(observation) == fast(observation), expression


def test_invalid_expressions_are_rejected(defs: Definitions) -> None:
    with pytest.raises(FHIRPathError):
        compile_path("Patient.name.(", defs)


def test_cache_compiles_each_expression_once(defs: Definitions) -> None:
    cache = ExtractorCache(defs)
    first = cache.get("Patient.name")
    assert cache.get("Patient.name") is first
    assert len(cache) == 1


def test_typed_values_are_frozen() -> None:
    value = TypedValue("x", "string")
    with pytest.raises(FrozenInstanceError):
        value.value = "y"  # type: ignore[misc]
    assert value == TypedValue("x", "string", None)


# ---------------------------------------------- the R4 examples, compared with fhirpathpy


def _strip_primitive_extensions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_primitive_extensions(v) for k, v in value.items() if k[0] != "_"}
    if isinstance(value, list):
        return [_strip_primitive_extensions(item) for item in value]
    return float(value) if isinstance(value, Decimal) else value


def _canonical(values: list[Any]) -> list[str]:
    """Order-insensitive comparable form of selected JSON values."""
    return sorted(
        orjson.dumps(_strip_primitive_extensions(v), option=orjson.OPT_SORT_KEYS).decode()
        for v in values
        if v is not None
    )


_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[^/]+(?:/_history/[^/]+)?$")
_AS_OPERATOR = re.compile(r"\(([^()]*) as (\w+)\)")
_ABSTRACT_ROOT = re.compile(r"(?<![\w.])(?:Resource|DomainResource)\.")


class Oracle:
    """fhirpathpy as the reference, with the three gaps of it that R4 expressions hit.

    - fhirpathpy has no resolve(): a minimal one reads `Type/id` and `#id` references;
    - it matches root type names exactly: `Resource.id` is rewritten to `Patient.id`;
    - it rejects `as` on several items: `(X as T)` is retried as `X.ofType(T)`.
    """

    def __init__(self, defs: Definitions) -> None:
        self.defs = defs
        self.parsed: dict[str, Any] = {}
        self.retried_as = 0

    def __call__(self, expression: str, resource: Json) -> list[Any]:
        """Evaluate on a resource already stripped of primitive extensions."""
        expression = _ABSTRACT_ROOT.sub(resource["resourceType"] + ".", expression)
        try:
            return self.evaluate(expression, resource)
        except ValueError as error:
            if "singleton on left side of 'as'" not in str(error):
                raise
        self.retried_as += 1
        return self.evaluate(_AS_OPERATOR.sub(r"(\1.ofType(\2))", expression), resource)

    def evaluate(self, expression: str, resource: Json) -> list[Any]:
        if expression not in self.parsed:
            parse_tree: Any = parse  # untyped
            self.parsed[expression] = parse_tree(expression)
        options = {"userInvocationTable": {"resolve": {"fn": self.resolver(resource)}}}
        apply: Any = fhirpathpy.apply_parsed_path
        result: list[Any] = apply(
            resource,
            self.parsed[expression],
            {"resource": resource},
            models["r4"],
            options,
        )
        return result

    def resolver(self, resource: Json) -> Callable[[list[Any]], list[Any]]:
        def resolve(references: list[Any]) -> list[Any]:
            found = []
            for reference in references:
                text = reference.get("reference") if isinstance(reference, dict) else None
                if not isinstance(text, str):
                    continue
                if text.startswith("#"):
                    found += [
                        ResourceNode.create_node(c)  # type: ignore[no-untyped-call]
                        for c in resource.get("contained", [])
                        if c.get("id") == text[1:]
                    ]
                    continue
                match = _REFERENCE.search(text)
                if match and self.defs.is_resource_type(match.group(1)):
                    stub = {"resourceType": match.group(1)}
                    found.append(ResourceNode.create_node(stub, match.group(1)))  # type: ignore[no-untyped-call]
            return found

        return resolve


def _example_resources(defs: Definitions) -> list[tuple[str, Json]]:
    if not EXAMPLES.is_file():
        pytest.skip(f"the R4 examples package is not at {EXAMPLES.resolve()}")
    found: list[tuple[str, Json]] = []

    def add(name: str, resource: Any) -> None:
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind in defs.resource_types and kind not in CONFORMANCE_TYPES:
            found.append((name, resource))

    with tarfile.open(EXAMPLES, "r:gz") as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.name.endswith(".json") else None
            if handle is None:
                continue
            resource = json.loads(handle.read())
            add(member.name, resource)
            if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
                for index, entry in enumerate(resource.get("entry", [])):
                    add(f"{member.name}#entry{index}", entry.get("resource"))
    return found


@pytest.fixture(scope="module")
def examples(defs: Definitions) -> list[tuple[str, Json]]:
    return _example_resources(defs)


def _mismatch_report(mismatches: list[str]) -> str:
    return f"{len(mismatches)} mismatches, e.g.:\n" + "\n".join(mismatches[:10])


@pytest.mark.slow
def test_extractors_select_what_fhirpathpy_selects_in_the_r4_examples(
    defs: Definitions, cache: ExtractorCache, examples: list[tuple[str, Json]]
) -> None:
    oracle = Oracle(defs)
    mismatches: list[str] = []
    compared = selected = 0
    for name, resource in examples:
        stripped = _strip_primitive_extensions(resource)  # fhirpathpy returns them as values
        for code, param in defs.search_parameters_for(resource["resourceType"]).items():
            if param.expression is None:
                continue
            ours = _canonical([v.value for v in cache.get(param.expression)(resource)])
            theirs = _canonical(oracle(param.expression, stripped))
            compared += 1
            selected += len(theirs)
            if ours != theirs:
                mismatches.append(f"{name} {code}: ours {ours[:3]} fhirpathpy {theirs[:3]}")
    assert not mismatches, _mismatch_report(mismatches)
    assert len(examples) > 900
    assert compared > 20_000
    assert selected > 10_000
    assert oracle.retried_as > 0


@pytest.mark.slow
def test_composite_components_agree_with_fhirpathpy(
    defs: Definitions, cache: ExtractorCache, examples: list[tuple[str, Json]]
) -> None:
    slow: dict[str, Extractor] = {}
    mismatches: list[str] = []
    compared = 0
    for name, resource in examples:
        for code, param in defs.search_parameters_for(resource["resourceType"]).items():
            if param.type != "composite" or param.expression is None:
                continue
            for focus in cache.get(param.expression)(resource):
                for component in param.component:
                    expression = component.expression
                    # The one R4 component naming a System type: fhirpathpy only knows FHIR's.
                    oracle_expression = expression.replace("as(DateTime)", "as(dateTime)")
                    if oracle_expression not in slow:
                        slow[oracle_expression] = compile_path(
                            oracle_expression, defs, allow_fast=False
                        )
                    ours = cache.get(expression).evaluate([focus], resource)
                    theirs = slow[oracle_expression].evaluate([focus], resource)
                    compared += 1
                    if ours != theirs:
                        mismatches.append(f"{name} {code} {expression}: {ours} / {theirs}")
    assert not mismatches, _mismatch_report(mismatches)
    assert compared > 1000


@pytest.mark.slow
def test_fallback_extractors_agree_on_values_and_types(
    defs: Definitions, cache: ExtractorCache, examples: list[tuple[str, Json]]
) -> None:
    """The fhirpathpy path gives the same typed values (one example of each clinical type)."""
    seen: set[str] = set()
    slow: dict[str, Extractor] = {}
    mismatches: list[str] = []
    for name, resource in examples:
        kind = resource["resourceType"]
        if kind not in CLINICAL_TYPES or kind in seen:
            continue
        seen.add(kind)
        for code, param in defs.search_parameters_for(kind).items():
            if param.expression is None:
                continue
            if param.expression not in slow:
                slow[param.expression] = compile_path(param.expression, defs, allow_fast=False)
            ours = cache.get(param.expression)(resource)
            theirs = slow[param.expression](resource)
            if sorted(map(_typed_key, ours)) != sorted(map(_typed_key, theirs)):
                mismatches.append(f"{name} {code}: {ours} / {theirs}")
    assert not mismatches, _mismatch_report(mismatches)
    assert seen == set(CLINICAL_TYPES)


def _typed_key(value: TypedValue) -> str:
    return orjson.dumps(
        [value.value, value.fhir_type, value.owner], option=orjson.OPT_SORT_KEYS
    ).decode()


def _expressions_of(params: Mapping[str, Any]) -> set[str]:
    return {p.expression for p in params.values() if p.expression is not None}


def test_clinical_parameters_compile_to_the_fast_subset(
    defs: Definitions, cache: ExtractorCache
) -> None:
    counts: Counter[bool] = Counter()
    for kind in CLINICAL_TYPES:
        for expression in _expressions_of(defs.search_parameters_for(kind)):
            counts[cache.get(expression).fast] += 1
    assert counts[True] / (counts[True] + counts[False]) >= 0.95, counts


def test_every_r4_expression_compiles(defs: Definitions, cache: ExtractorCache) -> None:
    expressions = {p.expression for p in defs.search_parameters if p.expression is not None}
    expressions |= {c.expression for p in defs.search_parameters for c in p.component}
    fast = [e for e in expressions if cache.get(e).fast]
    assert len(expressions) > 1300
    assert len(fast) / len(expressions) >= 0.95
