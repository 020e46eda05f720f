"""Alias parameters: their values are exactly their sources' rows, on every R4 example."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.search.r4_package import example_resources
from tsunagu.fhir.definitions import SearchParameterDef, load_definitions
from tsunagu.search.aliases import (
    Candidate,
    Source,
    branches,
    component_sources,
    find_sources,
    part_sources,
)
from tsunagu.search.index import index_resource, stale_row_codes
from tsunagu.search.parameters import MODULES, IndexedParam, SearchRegistry
from tsunagu.search.params import string, token


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry(load_definitions())


def test_branches_split_the_top_level_union_and_keep_the_types_own() -> None:
    expression = (
        "AllergyIntolerance.patient | Observation.subject.where(resolve() is Patient)"
        " | (Observation.value as Quantity) | Observation.code.where(text = 'a|b')"
    )
    assert branches(expression, "Observation") == {
        "Observation.subject.where(resolve() is Patient)",
        "(Observation.value as Quantity)",
        "Observation.code.where(text = 'a|b')",
    }


def _candidate(code: str, kind: str, expression: str, indexable: bool = True) -> Candidate:
    return Candidate(code, kind, expression, indexable)


def _by_code(*candidates: Candidate) -> dict[str, Candidate]:
    return {c.code: c for c in candidates}


def test_sources_of_the_three_kinds_of_alias() -> None:
    params = _by_code(
        _candidate("subject", "reference", "Observation.subject"),
        _candidate("patient", "reference", "Observation.subject.where(resolve() is Patient)"),
        _candidate("code", "token", "Observation.code"),
        _candidate("component-code", "token", "Observation.component.code"),
        _candidate("combo-code", "token", "Observation.code | Observation.component.code"),
        _candidate("name", "string", "Observation.note.text"),
        _candidate("phonetic", "string", "Observation.note.text"),
        # Not aliases: another type of values, a filter other than resolve(), a composite.
        _candidate("status", "string", "Observation.code"),
        _candidate("email", "token", "Observation.code.where(system = 'email')"),
        _candidate("pair", "token", "Observation.code", indexable=False),
    )
    assert find_sources("Observation", params) == {
        "patient": (Source("subject", "Patient"),),
        "combo-code": (Source("code"), Source("component-code")),
        "phonetic": (Source("name"),),  # of two alike, the first by code keeps the rows
    }


def test_an_alias_of_an_alias_takes_its_sources() -> None:
    params = _by_code(
        _candidate("a", "reference", "Encounter.x"),
        _candidate("b", "reference", "Encounter.x"),
        _candidate("c", "reference", "Encounter.x.where(resolve() is Patient)"),
    )
    assert find_sources("Encounter", params) == {
        "b": (Source("a"),),
        "c": (Source("a", "Patient"),),
    }


def test_a_posted_parameter_never_takes_the_rows_of_a_core_one() -> None:
    # Core `name` keeps its rows even though the posted `a-name` sorts first: its rows exist
    # already, and the posted one, alike, reads them (no reindex needed).
    params = _by_code(
        _candidate("name", "string", "Patient.name"),
        Candidate("a-name", "string", "Patient.name", True, custom=True),
        Candidate("a-ref", "reference", "Patient.link.other", True, custom=True),
        _candidate("link", "reference", "Patient.link.other.where(resolve() is Patient)"),
    )
    assert find_sources("Patient", params) == {"a-name": (Source("name"),)}


def test_a_composite_on_the_resource_pairs_plain_parameters_that_select_its_components() -> None:
    def composite(code: str, value: str, custom: bool = False) -> Candidate:
        return Candidate(
            code, "composite", "Observation", True, custom, ("token code", f"quantity {value}")
        )

    params = _by_code(
        _candidate("code", "token", "Observation.code | Condition.code"),
        _candidate(
            "value-quantity",
            "quantity",
            "(Observation.value as Quantity) | (Observation.value as SampledData)",
        ),
        _candidate("value-range", "quantity", "(Observation.value as Range)"),
        _candidate("patient-code", "token", "Observation.code.where(false)"),
        composite("code-value-quantity", "value.as(Quantity)"),
        composite("code-value-any", "value"),
        composite("code-value-range", "value.as(Range)"),
        Candidate(
            "code-value-per-component",
            "composite",
            "Observation.component",
            True,
            components=("token code", "quantity value.as(Quantity)"),
        ),
    )
    rowless = {"quantity": frozenset({"SampledData"})}

    def pairs(code: str, aliases: dict[str, object] | None = None) -> tuple[str, ...]:
        return component_sources("Observation", code, params, aliases or {}, rowless)

    # The SampledData branch gives no quantity rows; `(X as T)` is `X.as(T)`.
    assert pairs("code-value-quantity") == ("code", "value-quantity")
    assert pairs("code-value-range") == ("code", "value-range")
    assert pairs("code-value-any") == ()  # no parameter selects every `value`
    assert pairs("code-value-per-component") == ()  # one value per component, not per resource
    assert pairs("code-value-quantity", {"code": ()}) == ()  # an alias writes no rows
    assert component_sources("Observation", "code-value-quantity", params, {}, {}) == ()


def test_a_name_reads_the_rows_of_the_parameters_of_its_parts() -> None:
    params = _by_code(
        _candidate("name", "string", "Patient.name"),
        _candidate("family", "string", "Patient.name.family | Practitioner.name.family"),
        _candidate("given", "string", "Patient.name.given"),
        _candidate("period", "string", "Patient.name.period"),  # not a part with strings
        _candidate("family-text", "string", "Patient.name.family.text"),
        _candidate("contact-family", "string", "Patient.contact.name.family"),
        Candidate("my-given", "string", "Patient.name.given", True, custom=True),
    )

    def parts_of(branch: str) -> frozenset[str]:
        return frozenset(string.PARTS["HumanName"]) if branch == "Patient.name" else frozenset()

    def parts(code: str, aliases: dict[str, object] | None = None) -> tuple[str, ...]:
        return part_sources("Patient", code, params, aliases or {}, parts_of)

    # A core parameter never relies on the rows of a posted one (`my-given`).
    assert parts("name") == ("family", "given")
    assert parts("name", {"given": ()}) == ("family",)  # an alias writes no rows
    assert parts("family") == ()
    assert part_sources("Patient", "name", params, {}, lambda branch: frozenset()) == ()


def test_the_registry_knows_the_r4_aliases_and_does_not_index_them(
    registry: SearchRegistry,
) -> None:
    observation = registry.for_type("Observation")
    assert observation["patient"].sources == (Source("subject", "Patient"),)
    assert {s.code for s in observation["combo-value-quantity"].sources} == {
        "value-quantity",
        "component-value-quantity",
    }
    assert registry.get("Patient", "phonetic") is not None
    assert registry.for_type("Patient")["phonetic"].sources == (
        Source("name"),
        Source("family"),
        Source("given"),
    )
    assert registry.for_type("Patient")["name"].part_sources == ("family", "given")
    assert registry.for_type("Practitioner")["address"].part_sources == (
        "address-city",
        "address-country",
        "address-postalcode",
        "address-state",
    )
    assert {s.code for s in observation["combo-code-value-quantity"].sources} == {
        "code-value-quantity",
        "component-code-value-quantity",
    }
    assert observation["code-value-quantity"].component_sources == ("code", "value-quantity")
    assert observation["code-value-concept"].component_sources == ("code", "value-concept")
    # `value.as(DateTime)` is not written as `value-date`'s `as dateTime`, and `value-string`
    # also selects a CodeableConcept's text: these keep rows of their own.
    assert observation["code-value-date"].component_sources == ()
    assert observation["code-value-string"].component_sources == ()
    audit = registry.for_type("AuditEvent")["patient"]
    assert set(audit.sources) == {Source("agent", "Patient"), Source("entity", "Patient")}
    rows = index_resource(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/1"},
        },
        registry,
    )
    assert {row[0] for table in rows.values() for row in table} >= {"subject", "code"}
    assert not {"patient", "combo-code"} & {row[0] for table in rows.values() for row in table}
    weight = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "valueQuantity": {"value": 60, "unit": "kg"},
    }
    written = {row[0] for table in index_resource(weight, registry).values() for row in table}
    assert {"code", "value-quantity"} <= written
    assert not any(code.startswith("code-value-quantity") for code in written)


def _own_rows(param: IndexedParam, resource: dict[str, Any]) -> set[tuple[Any, ...]]:
    """The rows the alias would write if it were indexed: its own expression's values."""
    assert param.extractor is not None
    module = MODULES[param.type]
    values = param.extractor(resource)
    found = {tuple(row) for row in module.rows(values)}
    if module is token:
        found |= {("of-type", *row) for row in token.of_type_rows(values)}
    return found


def _source_rows(param: IndexedParam, rows: dict[str, list[tuple[Any, ...]]]) -> set[Any]:
    """The rows its searches read: its sources', restricted to their target types."""
    table = rows[MODULES[param.type].TABLE]
    found: set[tuple[Any, ...]] = set()
    for source in param.sources:
        for row in table:
            target = source.target_type
            named = row[2] == target or (
                row[2] is None and row[5] is not None and f"/{target}/" in row[5]
            )
            restricted = target is not None and not named
            if row[0] == source.code and not restricted:
                found.add(tuple(row[2:]))
            elif row[0] == source.code + token.OF_TYPE and not restricted:
                found.add(("of-type", *row[2:]))
    return found


Pair = tuple[frozenset[tuple[Any, ...]], ...]  # one composite value: each component's rows


def _own_pairs(param: IndexedParam, resource: dict[str, Any]) -> set[Pair]:
    """The composite values the alias would index itself: per element, its components' rows
    (an element lacking a component has none)."""
    assert param.extractor is not None
    found: set[Pair] = set()
    for element in param.extractor(resource):
        parts = []
        for component in param.components:
            values = component.extractor.evaluate([element], resource)
            parts.append(frozenset(tuple(r) for r in MODULES[component.type].rows(values)))
        if all(parts):
            found.add(tuple(parts))
    return found


def _source_pairs(param: IndexedParam, rows: dict[str, list[tuple[Any, ...]]]) -> set[Pair]:
    """The composite values its searches read: each source's component rows, by `grp`, or
    the plain parameters' rows of the resource (one value, if each has rows)."""
    found: set[Pair] = set()
    for where in param.composite_rows:
        groups: dict[int | None, list[set[tuple[Any, ...]]]] = {}
        for i, (component, code) in enumerate(zip(param.components, where.codes, strict=True)):
            for row in rows[MODULES[component.type].TABLE]:
                if row[0] == code:
                    assert (row[1] is None) is not where.grouped
                    parts = groups.setdefault(row[1], [set() for _ in param.components])
                    parts[i].add(tuple(row[2:]))
        found |= {tuple(frozenset(p) for p in parts) for parts in groups.values() if all(parts)}
    return found


def test_every_r4_example_finds_through_the_parts_what_the_whole_selects(
    registry: SearchRegistry,
) -> None:
    checked = 0
    for resource in example_resources():
        params = registry.for_type(resource["resourceType"]).values()
        wholes = [p for p in params if p.part_sources]
        if not wholes:
            continue
        rows = index_resource(resource, registry)[string.TABLE]
        for param in wholes:
            own = _own_rows(param, resource)
            read = {tuple(row[2:]) for row in rows if row[0] in (param.code, *param.part_sources)}
            assert read == own, (resource.get("id"), param.code)
            left_out = own - {tuple(row[2:]) for row in rows if row[0] == param.code}
            checked += bool(left_out)
    assert checked > 50  # the examples' names and addresses do have parts


def test_every_r4_example_finds_through_the_sources_what_the_alias_selects(
    registry: SearchRegistry,
) -> None:
    checked = composites = paired = 0
    for resource in example_resources():
        aliases = [
            p
            for p in registry.for_type(resource["resourceType"]).values()
            if p.sources or p.component_sources
        ]
        if not aliases:
            continue
        rows = index_resource(resource, registry)
        for param in aliases:
            if param.components:
                pairs = _own_pairs(param, resource)
                assert _source_pairs(param, rows) == pairs, (resource.get("id"), param.code)
                composites += bool(pairs)
                paired += bool(pairs) and bool(param.component_sources)
                continue
            own = _own_rows(param, resource)
            assert _source_rows(param, rows) == own, (resource.get("id"), param.code)
            checked += bool(own)
    assert checked > 200  # the examples do exercise them
    assert composites > 20
    assert paired > 20


def test_row_codes_are_kept_until_the_custom_parameters_change() -> None:
    registry = SearchRegistry(load_definitions())
    first = registry.row_codes("Observation", ["patient", "performer"], "Patient")
    assert first == ("subject", "performer")
    assert registry.row_codes("Observation", ["patient", "performer"], "Patient") is first
    assert registry.row_codes("Observation", ["patient"], "Group") == ()
    # A posted `patient` replaces the core one: here the performer's rows.
    posted = SearchParameterDef(
        url="urn:test:SearchParameter/Observation-patient", code="patient",
        base=("Observation",), type="reference", expression="Observation.performer",
        target=("Patient",),
    )  # fmt: skip
    registry.set_custom([posted])
    assert registry.row_codes("Observation", ["patient", "performer"], "Patient") == ("performer",)


def test_compartment_rows_are_kept_until_the_custom_parameters_change() -> None:
    registry = SearchRegistry(load_definitions())
    types = ("Encounter", "Observation", "Patient")
    first = dict(registry.compartment_rows("Patient", types))
    assert first["Observation"] == ("subject", "performer")  # `patient` is read from `subject`
    assert first["Encounter"] == ("subject",)
    assert first["Patient"] == ("link",)
    assert registry.compartment_rows("Patient", types) is registry.compartment_rows(
        "Patient", types
    )
    kept = registry.compartment_rows("Patient", types)
    registry.set_custom([])
    assert registry.compartment_rows("Patient", types) is not kept


def test_stale_row_codes_are_those_no_parameter_writes_any_more() -> None:
    registry = SearchRegistry(load_definitions())
    found = [
        ("Patient", "name"),
        ("Patient", "phonetic"),  # read from `name`'s rows
        ("Patient", "identifier|of-type"),
        ("Observation", "code"),
        ("Observation", "code-value-string#0"),
        ("Observation", "code-value-quantity#0"),  # pairs the `code` and `value-quantity` rows
        ("Observation", "combo-code"),  # read from `code` and `component-code`
        ("Observation", "patient"),  # read from `subject`
        ("Observation", "retired-param"),
        ("Observation", "_tag"),
    ]
    assert stale_row_codes(registry, found) == {
        "Observation": ("code-value-quantity#0", "combo-code", "patient", "retired-param"),
        "Patient": ("phonetic",),
    }
    # A posted parameter writes rows of its own: they are not stale.
    posted = SearchParameterDef(
        url="urn:test:SearchParameter/Observation-retired-param", code="retired-param",
        base=("Observation",), type="string", expression="Observation.note.authorString",
    )  # fmt: skip
    registry.set_custom([posted])
    assert stale_row_codes(registry, found)["Observation"] == (
        "code-value-quantity#0",
        "combo-code",
        "patient",
    )
