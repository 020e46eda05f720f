"""Skipping parameters whose elements are absent never changes the index."""

from __future__ import annotations

import pytest

from tests.unit.search.r4_package import example_resources
from tsunagu.fhir.definitions import load_definitions
from tsunagu.search.index import index_resource
from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.roots import element_names, expression_roots, present


@pytest.mark.parametrize(
    ("expression", "roots"),
    [
        ("Observation.code", {"code"}),
        ("Observation.value as Quantity", {"value"}),
        ("(Observation.value as Quantity) | (Observation.value as SampledData)", {"value"}),
        ("AllergyIntolerance.patient | CarePlan.subject | Observation.subject", {"subject"}),
        ("Resource.meta.tag", {"meta.tag"}),
        ("Observation.subject.where(resolve() is Patient)", {"subject"}),
        ("Observation.encounter", {"encounter"}),
        ("Observation.code.where(text.exists().not())", None),
    ],
)
def test_roots_of_navigation(expression: str, roots: set[str] | None) -> None:
    expected = None if roots is None else frozenset(roots)
    assert expression_roots(expression, "Observation") == expected


def test_composite_on_the_resource_itself_starts_at_its_components() -> None:
    roots = expression_roots(
        "Observation | Observation.component", "Observation", ["code", "value.as(Quantity)"]
    )
    assert roots == frozenset({"code", "value", "component"})


@pytest.mark.parametrize(
    "expression",
    ["Patient.deceased.exists() and Patient.deceased != false", "%resource.x", "iif(a, b, c)"],
)
def test_expressions_that_may_yield_from_absence_always_run(expression: str) -> None:
    assert expression_roots(expression, "Patient") is None


def test_present_matches_choice_names() -> None:
    names = element_names({"status": 1, "valueQuantity": 2, "valueset": 3, "meta": {"tag": []}})
    assert present(frozenset({"value"}), names)
    assert present(frozenset({"valueset"}), names)
    assert present(frozenset({"meta.tag"}), names)
    assert not present(frozenset({"meta.profile"}), names)
    assert not present(frozenset({"code"}), names)
    assert not present(frozenset({"valueQ"}), element_names({"valueset": 1}))


def test_skipping_changes_no_index_row_on_any_r4_example() -> None:
    registry = SearchRegistry(load_definitions())
    examples = example_resources()
    assert len(examples) > 5000
    for resource in examples:
        if resource["resourceType"] not in registry.definitions.resource_types:
            continue
        fast = index_resource(resource, registry)
        full = index_resource(resource, registry, skip_absent=False)
        assert fast == full, f"{resource['resourceType']}/{resource.get('id')}"
