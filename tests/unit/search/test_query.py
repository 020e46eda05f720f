"""Parsing search query strings against the registry (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.fhir.definitions import load_definitions
from tsunagu.fhir.outcomes import FhirError
from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.params.common import unescape
from tsunagu.search.query import parse, split_escaped_keep


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry(load_definitions())


def test_plain_criteria_modifiers_and_or(registry: SearchRegistry) -> None:
    query = parse(registry, ["Patient"], [("name:exact", "山田"), ("gender", "male,female")])
    assert [(c.param.code, c.modifier, c.values) for c in query.criteria] == [
        ("name", "exact", ("山田",)),
        ("gender", None, ("male", "female")),
    ]


def test_unknown_parameters_are_collected(registry: SearchRegistry) -> None:
    query = parse(registry, ["Patient"], [("foo", "1"), ("name", "x"), ("_text", "y")])
    assert query.ignored == ("foo", "_text")
    contained = parse(registry, ["Patient"], [("_contained", "true"), ("_summary", "true")])
    assert contained.ignored == ("_contained",)
    assert parse(registry, ["Patient"], [("_contained", "false")]).ignored == ()
    assert [c.param.code for c in query.criteria] == ["name"]


def test_chain_resolves_target_types(registry: SearchRegistry) -> None:
    query = parse(registry, ["Observation"], [("subject.name", "山田")])
    branches = dict(query.criteria[0].chain)
    # Of subject's targets (Group, Device, Patient, Location) only these have `name`.
    assert set(branches) == {"Patient", "Location"}
    typed = parse(registry, ["Observation"], [("subject:Patient.name", "山田")])
    assert [t for t, _ in typed.criteria[0].chain] == ["Patient"]


def test_has(registry: SearchRegistry) -> None:
    query = parse(registry, ["Patient"], [("_has:Observation:subject:code", "1234")])
    crit = query.criteria[0]
    assert crit.has is not None
    assert crit.has[0] == "Observation"
    assert crit.chain[0][1].param.code == "code"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("name:foo", "x"),
        ("gender:exact", "male"),
        ("_has:Observation", "x"),
        ("_has:Nope:subject:code", "x"),
        ("_has:Observation:code:code", "x"),
        ("name:missing", "maybe"),
        ("_count", "-1"),
        ("_total", "some"),
        ("_sort", "nothing"),
        ("_include", "Observation"),
        ("_include", "Observation:code"),
        ("_include:deep", "Observation:subject"),
        ("gender", ""),
        ("gender.name", "x"),
    ],
)
def test_bad_queries_are_400(registry: SearchRegistry, name: str, value: str) -> None:
    with pytest.raises(FhirError) as raised:
        parse(
            registry,
            ["Patient" if not name.startswith("_include") else "Observation"],
            [(name, value)],
        )
    assert raised.value.status == 400


def test_escaped_commas_stay_in_values() -> None:
    assert split_escaped_keep(r"a\,b,c") == ["a,b", "c"]
    assert split_escaped_keep(r"a\|b") == [r"a\|b"]


@given(st.text(alphabet="ab,$|\\山", max_size=12))
def test_a_value_escaped_for_a_search_is_read_back_whole(value: str) -> None:
    """The string, uri and token-text conditions read `unescape` of each OR value."""
    escaped = "".join("\\" + ch if ch in ",$|\\" else ch for ch in value)
    [single] = split_escaped_keep(escaped) or [""]
    assert unescape(single) == value


def test_sort_include_count_total(registry: SearchRegistry) -> None:
    query = parse(
        registry,
        ["Observation"],
        [
            ("_sort", "-date,_id"),
            ("_include", "Observation:subject:Patient"),
            ("_revinclude:iterate", "Provenance:target"),
            ("_count", "5000"),
            ("_total", "accurate"),
        ],
    )
    assert [(k.param.code, k.descending) for k in query.sort] == [("date", True), ("_id", False)]
    assert [(i.source_type, i.target_type, i.reverse, i.iterate) for i in query.includes] == [
        ("Observation", "Patient", False, False),
        ("Provenance", None, True, True),
    ]
    assert query.count == 1000
    assert query.total == "accurate"
