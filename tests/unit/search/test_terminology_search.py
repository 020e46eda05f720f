"""`:in`, `:not-in`, and a token's `:below`/`:above`: codes as OR-ed token values (no
database)."""

from __future__ import annotations

import pytest

from tsunagu.fhir.definitions import load_definitions
from tsunagu.fhir.outcomes import FhirError
from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.query import parse
from tsunagu.search.terminology import MAX_CODES, Direction, ValueSetCodes

VITALS = "urn:test:vs:vitals"
PARTIAL = "urn:test:vs:all-of-loinc"
HUGE = "urn:test:vs:huge"
ODD = "urn:test:vs:odd"


class FakeTerminology:
    def value_set_codes(self, url: str) -> ValueSetCodes | None:
        return {
            VITALS: ValueSetCodes(
                frozenset(
                    {("http://loinc.org", "8867-4"), ("urn:oid:2.16.840.1.113883.6.1", "8867-4")}
                ),
                complete=True,
            ),
            PARTIAL: ValueSetCodes(frozenset({("http://loinc.org", "8867-4")}), complete=False),
            HUGE: ValueSetCodes(
                frozenset(("urn:s", str(n)) for n in range(MAX_CODES + 1)), complete=True
            ),
            ODD: ValueSetCodes(frozenset({("urn:a|b", "c\\d")}), complete=True),
        }.get(url)

    def related_codes(
        self, system: str, code: str, direction: Direction
    ) -> frozenset[tuple[str, str]] | None:
        # A two-level hierarchy in "urn:cs": IMP above ACUTE and NONAC.
        below = {"IMP": {"IMP", "ACUTE", "NONAC"}, "ACUTE": {"ACUTE"}, "NONAC": {"NONAC"}}
        above = {"IMP": {"IMP"}, "ACUTE": {"ACUTE", "IMP"}, "NONAC": {"NONAC", "IMP"}}
        if system != "urn:cs" or code not in below:
            return None
        return frozenset((system, c) for c in (below if direction == "below" else above)[code])


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry(load_definitions(), terminology=FakeTerminology())


def test_in_is_every_code_of_the_value_set_with_or_without_its_system(
    registry: SearchRegistry,
) -> None:
    (criterion,) = parse(registry, ["Observation"], [("code:in", VITALS)]).criteria
    assert criterion.modifier is None
    assert criterion.values == (
        "http://loinc.org|8867-4",
        "urn:oid:2.16.840.1.113883.6.1|8867-4",
        "|8867-4",
    )
    (negated,) = parse(registry, ["Observation"], [("code:not-in", VITALS)]).criteria
    assert negated.modifier == "not"
    assert negated.values == criterion.values
    (odd,) = parse(registry, ["Observation"], [("code:in", ODD)]).criteria
    assert odd.values == ("urn:a\\|b|c\\\\d", "|c\\\\d")  # escaped for the token parser


@pytest.mark.parametrize(
    ("value", "status_code"),
    [
        ("urn:test:vs:unknown", "not-found"),
        (PARTIAL, "not-supported"),
        (HUGE, "too-costly"),
    ],
)
def test_value_sets_that_cannot_be_searched_are_refused(
    registry: SearchRegistry, value: str, status_code: str
) -> None:
    with pytest.raises(FhirError) as raised:
        parse(registry, ["Observation"], [("code:in", value)])
    assert raised.value.status == 400
    assert raised.value.issues[0].code == status_code
    assert raised.value.issues[0].expression == ("code:in",)


def test_in_is_refused_without_value_sets_or_on_other_types() -> None:
    bare = SearchRegistry(load_definitions())
    with pytest.raises(FhirError) as raised:
        parse(bare, ["Observation"], [("code:in", VITALS)])
    assert raised.value.issues[0].code == "not-found"
    with pytest.raises(FhirError):  # a string parameter has no `:in`
        parse(bare, ["Patient"], [("name:in", VITALS)])


def test_below_and_above_are_the_codes_of_the_hierarchy(registry: SearchRegistry) -> None:
    (below,) = parse(registry, ["Encounter"], [("class:below", "urn:cs|IMP")]).criteria
    assert below.modifier is None
    assert below.values == ("urn:cs|ACUTE", "urn:cs|IMP", "urn:cs|NONAC")
    (above,) = parse(
        registry, ["Encounter"], [("class:above", "urn:cs|ACUTE,urn:cs|NONAC")]
    ).criteria
    assert above.values == ("urn:cs|ACUTE", "urn:cs|IMP", "urn:cs|NONAC")
    for value in ("IMP", "urn:cs|", "urn:other|IMP", "urn:cs|UNKNOWN"):
        with pytest.raises(FhirError) as raised:
            parse(registry, ["Encounter"], [("class:below", value)])
        assert raised.value.status == 400
        assert raised.value.issues[0].expression == ("class:below",)
