"""The indexing fast path (shapes, bound extractors, key triggers, shared rows) writes exactly
the rows that evaluating every parameter one by one writes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.search.r4_package import example_resources
from tsunagu.fhir.definitions import SearchParameterDef, load_definitions
from tsunagu.search.fhirpath.compiler import FastExtractor
from tsunagu.search.index import TABLES, IndexRows, index_resource, rebuilt_together
from tsunagu.search.parameters import MODULES, ComputedParam, SearchRegistry
from tsunagu.search.params import string, token

Json = dict[str, Any]


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry(load_definitions())


def reference_rows(resource: Json, registry: SearchRegistry) -> IndexRows:
    """Every parameter evaluated with its public extractor, one after another: the plain
    definition of the index rows that `index_resource` must reproduce. Aliases have none
    (their sources' rows hold their values: `test_aliases.py`)."""
    out: IndexRows = {table: [] for table in TABLES}
    for code, param in registry.for_type(resource["resourceType"]).items():
        if not param.writes_rows:
            continue
        assert param.extractor is not None
        values = param.extractor(resource)
        if not values:
            continue
        if param.components:
            for group, element in enumerate(values, start=1):
                found = []
                for component in param.components:
                    parts = component.extractor.evaluate([element], resource)
                    rows = MODULES[component.type].rows(parts) if parts else []
                    if not rows:
                        break
                    found.append((component, rows))
                else:
                    for component, rows in found:
                        table = MODULES[component.type].TABLE
                        out[table].extend((component.spec.code, group, *r) for r in rows)
            continue
        module = MODULES.get(param.type)
        if module is None:
            continue
        out[module.TABLE].extend((code, None, *row) for row in module.rows(values))
        if module is token:
            of_type = code + token.OF_TYPE
            out[module.TABLE].extend((of_type, None, *r) for r in token.of_type_rows(values))
    # A parameter with parts (`name`) leaves out the strings its parts' rows hold.
    for code, param in registry.for_type(resource["resourceType"]).items():
        held = {row[2:] for row in out[string.TABLE] if row[0] in param.part_sources}
        out[string.TABLE] = [
            row for row in out[string.TABLE] if row[0] != code or row[2:] not in held
        ]
    return out


def test_every_r4_example_gets_the_rows_of_the_plain_evaluation(
    registry: SearchRegistry,
) -> None:
    checked = 0
    for resource in example_resources():
        if resource["resourceType"] not in registry.definitions.resource_types:
            continue
        assert index_resource(resource, registry) == reference_rows(resource, registry), (
            f"{resource['resourceType']}/{resource.get('id')}"
        )
        checked += 1
    assert checked > 5000


# Observations and Patients whose elements come and go, so that shapes repeat with other
# values and every kind of value[x], component and reference turns up.
_codings = st.lists(
    st.fixed_dictionaries(
        {"system": st.sampled_from(["http://loinc.org", "urn:x"]), "code": st.sampled_from("ab")},
        optional={"display": st.sampled_from(["Body weight", "体重", "ﾀｲｼﾞｭｳ"])},
    ),
    min_size=1,
    max_size=2,
)
_concept = st.fixed_dictionaries({"coding": _codings}, optional={"text": st.just("Text")})
_quantity = st.fixed_dictionaries(
    {"value": st.sampled_from([1, 2.5, 70.0])},
    optional={"unit": st.just("kg"), "system": st.just("http://unitsofmeasure.org")},
)
_values = st.one_of(
    st.tuples(st.just("valueQuantity"), _quantity),
    st.tuples(st.just("valueCodeableConcept"), _concept),
    st.tuples(st.just("valueString"), st.sampled_from(["positive", "陽性"])),
    st.tuples(st.just("valueDateTime"), st.sampled_from(["2024-03-05T10:00:00+09:00", "2024"])),
    st.tuples(st.just("valuePeriod"), st.just({"start": "2024-01-01", "end": "2024-02"})),
    st.tuples(st.just("valueBoolean"), st.booleans()),
)
_reference = st.sampled_from(
    [{"reference": "Patient/p1"}, {"reference": "Group/g1"}, {"reference": "urn:uuid:1"}]
)


@st.composite
def observations(draw: st.DrawFn) -> Json:
    resource: Json = {"resourceType": "Observation", "id": "o1", "status": "final"}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "code": _concept,
        "subject": _reference,
        "category": st.lists(_concept, max_size=2),
        "effectiveDateTime": st.sampled_from(["2024-03-05", "2024-03-05T10:00:00Z"]),
        "meta": st.fixed_dictionaries(
            {"versionId": st.just("1")}, optional={"tag": st.just([{"code": "t"}])}
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            resource[key] = draw(strategy)
    if draw(st.booleans()):
        name, value = draw(_values)
        resource[name] = value
    components = []
    for _ in range(draw(st.integers(0, 2))):
        component: Json = {}
        if draw(st.booleans()):
            component["code"] = draw(_concept)
        if draw(st.booleans()):
            name, value = draw(_values)
            component[name] = value
        components.append(component)
    if components:
        resource["component"] = components
    return resource


@st.composite
def patients(draw: st.DrawFn) -> Json:
    resource: Json = {"resourceType": "Patient", "id": "p1"}
    names = ["山田", "ヤマダ", "Yamada"]
    optional: dict[str, st.SearchStrategy[Any]] = {
        "name": st.lists(
            st.fixed_dictionaries(
                {}, optional={"family": st.sampled_from(names), "given": st.just(["太郎"])}
            ),
            max_size=2,
        ),
        "identifier": st.lists(
            st.fixed_dictionaries(
                {"value": st.sampled_from(["1", "2"])},
                optional={"system": st.just("urn:oid:1.2"), "type": _concept},
            ),
            max_size=2,
        ),
        "telecom": st.lists(
            st.fixed_dictionaries(
                {"system": st.sampled_from(["phone", "email"]), "value": st.just("090")}
            ),
            max_size=2,
        ),
        "gender": st.sampled_from(["male", "female"]),
        "birthDate": st.sampled_from(["1970-01-02", "1980"]),
        "deceasedBoolean": st.booleans(),
        "generalPractitioner": st.lists(_reference, max_size=2),
        "address": st.lists(
            st.fixed_dictionaries({}, optional={"city": st.just("新宿区")}), max_size=1
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            resource[key] = draw(strategy)
    return resource


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(observations(), patients()))
def test_generated_resources_get_the_rows_of_the_plain_evaluation(
    registry: SearchRegistry, resource: Json
) -> None:
    assert index_resource(resource, registry) == reference_rows(resource, registry)
    assert index_resource(resource, registry, skip_absent=False) == index_resource(
        resource, registry
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(observations(), patients()))
def test_an_expression_selects_nothing_without_its_start_keys(
    registry: SearchRegistry, resource: Json
) -> None:
    resource_type = resource["resourceType"]
    for code, param in registry.for_type(resource_type).items():
        extractor = param.extractor
        if not isinstance(extractor, FastExtractor):
            continue
        keys = extractor.start_keys(resource_type)
        if keys is not None and keys.isdisjoint(resource):
            assert extractor(resource) == [], code


def _start_keys(registry: SearchRegistry, resource_type: str, code: str) -> Any:
    param = registry.get(resource_type, code)
    assert param is not None
    assert isinstance(param.extractor, FastExtractor)
    return param.extractor.start_keys(resource_type)


def test_start_keys_name_the_concrete_choice_elements(registry: SearchRegistry) -> None:
    keys = _start_keys(registry, "Observation", "value-quantity")
    assert keys == frozenset({"valueQuantity", "valueSampledData"})
    keys = _start_keys(registry, "Observation", "combo-code")
    assert keys == frozenset({"code", "component"})
    # `exists() and !=` may select a value from nothing: no keys, always evaluated.
    assert _start_keys(registry, "Patient", "deceased") is None


def test_resources_of_one_shape_keep_their_own_values(registry: SearchRegistry) -> None:
    first = {"resourceType": "Patient", "id": "a", "gender": "male"}
    second = {"resourceType": "Patient", "id": "b", "gender": "female"}
    assert ("gender", None, "", "male", None) in index_resource(first, registry)["search_token"]
    rows = index_resource(second, registry)["search_token"]
    assert ("gender", None, "", "female", None) in rows
    assert ("gender", None, "", "male", None) not in rows


def test_values_of_the_wrong_json_type_never_crash_the_indexer(registry: SearchRegistry) -> None:
    """With validation off (`TSUNAGU_VALIDATION=false`) malformed resources reach the indexer:
    a value of any JSON type anywhere is indexed as far as it makes sense, never an error."""
    from tests.unit.validation.test_fast_paths import _paths
    from tests.unit.validation.test_malformed import ODD_VALUES, _replace
    from tests.unit.validation.test_mutations import BASES

    tried = 0
    for make in BASES.values():
        resource = make()
        for path in _paths(resource):
            if not path or path == ("resourceType",):  # the router checks the type first
                continue
            for value in ODD_VALUES:
                index_resource(_replace(resource, path, value), registry)
                tried += 1
    assert tried > 1000


def test_given_names_that_are_not_a_list_are_not_split_into_letters(
    registry: SearchRegistry,
) -> None:
    rows = index_resource(
        {"resourceType": "Patient", "name": [{"family": "山田", "given": "太郎"}]}, registry
    )
    assert rows, rows
    values = {str(v) for table in rows.values() for row in table for v in row}
    assert "太郎" in values  # the string itself is still found
    assert "山田 太 郎" not in values, values  # no "full name" made of its letters


def test_computed_parameters_index_token_rows_from_their_roots() -> None:
    definition = SearchParameterDef(
        url="urn:test:SearchParameter/Patient-initial", code="initial", base=("Patient",),
        type="token",
    )  # fmt: skip

    def initials(resource: Any) -> list[str]:
        return [n["family"][:1] for n in resource.get("name", []) if n.get("family")]

    computed = ComputedParam(definition, initials, frozenset({"name"}), "family initial")
    registry = SearchRegistry(load_definitions(), computed=[computed])
    param = registry.get("Patient", "initial")
    assert param is not None
    assert param.type == "token"
    assert param.documentation
    assert registry.get("Observation", "initial") is None
    named = {"resourceType": "Patient", "name": [{"family": "Sato"}, {"family": "Ito"}]}
    rows = index_resource(named, registry)["search_token"]
    assert [row[2:4] for row in rows if row[0] == "initial"] == [("", "S"), ("", "I")]
    plain = reference_rows(named, registry)["search_token"]
    assert sorted(rows) == sorted(plain)
    unnamed = {"resourceType": "Patient", "gender": "male"}
    rows = index_resource(unnamed, registry)["search_token"]
    assert not [row for row in rows if row[0] == "initial"]


def test_parameters_rebuilt_together(registry: SearchRegistry) -> None:
    name = {"name", "family", "given"}
    assert rebuilt_together(registry, "Patient", ["name"]) == name
    assert rebuilt_together(registry, "Patient", ["family"]) == name
    assert rebuilt_together(registry, "Patient", ["phonetic"]) == name | {"phonetic"}
    assert rebuilt_together(registry, "Patient", ["gender"]) == {"gender"}
    assert rebuilt_together(registry, "Patient", ["no-such-param"]) == set()
    paired = rebuilt_together(registry, "Observation", ["code-value-quantity"])
    assert paired == {"code-value-quantity", "code", "value-quantity"}
    address = rebuilt_together(registry, "Patient", ["address-city"])
    assert {"address", "address-city", "address-state", "address-postalcode"} <= address


def test_a_token_row_is_written_once_per_parameter(registry: SearchRegistry) -> None:
    # An AuditEvent touching a Patient and three Observations: the three share their entity
    # type and role, and the identifier repeats one code.
    def entity(reference: str, code: str) -> dict[str, Any]:
        return {
            "what": {"reference": reference},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": code,
            },
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": code},
        }

    event = {
        "resourceType": "AuditEvent",
        "entity": [entity("Patient/p", "1")] + [entity(f"Observation/o{n}", "2") for n in range(3)],
    }
    rows = index_resource(event, registry)
    assert sorted(r[3] for r in rows["search_token"] if r[0] == "entity-type") == ["1", "2"]
    assert len([r for r in rows["search_reference"] if r[0] == "entity"]) == 4
    typed = {"system": "urn:x", "value": "1", "type": {"coding": [{"code": "MR"}, {"code": "MR"}]}}
    patient = {"resourceType": "Patient", "identifier": [typed, {"system": "urn:x", "value": "1"}]}
    tokens = index_resource(patient, registry)["search_token"]
    assert [r[2:4] for r in tokens if r[0] == "identifier"] == [("urn:x", "1")]
    assert [r[2:4] for r in tokens if r[0] == "identifier|of-type"] == [("", "MR|1")]
