"""Value set membership from the vendored packages: expansion rules, aliases, unknown systems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.validation.packages import PackageIndex
from tsunagu.validation.ports import Terminology
from tsunagu.validation.terminology import PackageTerminology

Json = dict[str, Any]
CS = "http://example.org/CodeSystem/animals"
OTHER = "http://example.org/CodeSystem/plants"


class FakeSource:
    """An in-memory conformance source."""

    def __init__(self, *resources: Json) -> None:
        self.resources = list(resources)

    def get(self, url: str) -> Mapping[str, Any] | None:
        for resource in self.resources:
            if resource.get("url") == url.split("|")[0]:
                return resource
        return None

    def by_type(self, resource_type: str) -> Iterable[Mapping[str, Any]]:
        return [r for r in self.resources if r["resourceType"] == resource_type]


def animals(content: str = "complete") -> Json:
    """mammal > (dog > puppy, cat); bird; fish has property habitat=water."""
    return {
        "resourceType": "CodeSystem",
        "url": CS,
        "content": content,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3.4"}],
        "concept": [
            {
                "code": "mammal",
                "concept": [{"code": "dog", "concept": [{"code": "puppy"}]}, {"code": "cat"}],
            },
            {"code": "bird", "property": [{"code": "habitat", "valueCode": "air"}]},
            {"code": "fish", "property": [{"code": "habitat", "valueCode": "water"}]},
        ],
    }


def value_set(url: str, **compose: Any) -> Json:
    return {"resourceType": "ValueSet", "url": url, "compose": compose}


def check(term: PackageTerminology, vs: str, code: str, system: str | None = CS) -> str:
    return term.check_code(vs, system, code)


def test_whole_system_include_accepts_every_code_and_nothing_else() -> None:
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=[{"system": CS}])))
    assert {c: check(term, "urn:vs", c) for c in ("puppy", "fish", "tree")} == {
        "puppy": "valid",
        "fish": "valid",
        "tree": "invalid",
    }


def test_a_code_of_another_system_is_invalid() -> None:
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=[{"system": CS}])))
    assert check(term, "urn:vs", "dog", OTHER) == "invalid"


def test_a_bare_code_matches_any_system_of_the_value_set() -> None:
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=[{"system": CS}])))
    assert (check(term, "urn:vs", "dog", None), check(term, "urn:vs", "tree", None)) == (
        "valid",
        "invalid",
    )


def test_concept_list_include() -> None:
    include = [{"system": CS, "concept": [{"code": "dog"}, {"code": "fish"}]}]
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=include)))
    assert [check(term, "urn:vs", c) for c in ("dog", "fish", "cat")] == [
        "valid",
        "valid",
        "invalid",
    ]


@pytest.mark.parametrize(
    ("op", "value", "members"),
    [
        ("is-a", "mammal", {"mammal", "dog", "puppy", "cat"}),
        ("descendent-of", "mammal", {"dog", "puppy", "cat"}),
        ("is-not-a", "mammal", {"bird", "fish"}),
        ("generalizes", "puppy", {"puppy", "dog", "mammal"}),
        ("=", "dog", {"dog"}),
        ("in", "dog,cat", {"dog", "cat"}),
        ("regex", "[a-z]{3}", {"dog", "cat"}),
    ],
)
def test_concept_filters(op: str, value: str, members: set[str]) -> None:
    include = [{"system": CS, "filter": [{"property": "concept", "op": op, "value": value}]}]
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=include)))
    all_codes = {"mammal", "dog", "puppy", "cat", "bird", "fish"}
    got = {c for c in all_codes if check(term, "urn:vs", c) == "valid"}
    assert got == members
    assert all(check(term, "urn:vs", c) == "invalid" for c in all_codes - members)


def test_property_filter() -> None:
    include = [{"system": CS, "filter": [{"property": "habitat", "op": "=", "value": "water"}]}]
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=include)))
    assert (check(term, "urn:vs", "fish"), check(term, "urn:vs", "bird")) == ("valid", "invalid")


def test_filters_are_anded() -> None:
    include = [
        {
            "system": CS,
            "filter": [
                {"property": "concept", "op": "is-a", "value": "mammal"},
                {"property": "concept", "op": "regex", "value": "c.*"},
            ],
        }
    ]
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=include)))
    assert [check(term, "urn:vs", c) for c in ("cat", "dog")] == ["valid", "invalid"]


def test_unsupported_filter_makes_the_value_set_unknown_not_invalid() -> None:
    include = [{"system": CS, "filter": [{"property": "colour", "op": "=", "value": "red"}]}]
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=include)))
    assert check(term, "urn:vs", "dog") == "unknown"


def test_exclude_removes_codes() -> None:
    compose = {
        "include": [{"system": CS}],
        "exclude": [
            {"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "dog"}]}
        ],
    }
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", **compose)))
    assert [check(term, "urn:vs", c) for c in ("cat", "dog", "puppy")] == [
        "valid",
        "invalid",
        "invalid",
    ]


def test_nested_value_set_imports_and_their_intersection_with_a_system() -> None:
    source = FakeSource(
        animals(),
        value_set(
            "urn:mammals", include=[{"system": CS, "concept": [{"code": "dog"}, {"code": "cat"}]}]
        ),
        value_set("urn:fish", include=[{"system": CS, "concept": [{"code": "fish"}]}]),
        value_set("urn:union", include=[{"valueSet": ["urn:mammals"]}, {"valueSet": ["urn:fish"]}]),
        value_set(
            "urn:both",
            include=[
                {
                    "system": CS,
                    "filter": [{"property": "concept", "op": "is-a", "value": "dog"}],
                    "valueSet": ["urn:mammals"],
                }
            ],
        ),
    )
    term = PackageTerminology(source)
    assert [check(term, "urn:union", c) for c in ("dog", "fish", "bird")] == [
        "valid",
        "valid",
        "invalid",
    ]
    assert [check(term, "urn:both", c) for c in ("dog", "cat")] == ["valid", "invalid"]


def test_unknown_imported_value_set_or_cycle_is_unknown() -> None:
    source = FakeSource(
        animals(),
        value_set("urn:a", include=[{"valueSet": ["urn:missing"]}]),
        value_set("urn:b", include=[{"valueSet": ["urn:c"]}]),
        value_set("urn:c", include=[{"valueSet": ["urn:b"]}]),
    )
    term = PackageTerminology(source)
    assert (check(term, "urn:a", "dog"), check(term, "urn:b", "dog")) == ("unknown", "unknown")


def test_unknown_value_set_is_unknown() -> None:
    term = PackageTerminology(FakeSource(animals()))
    assert check(term, "urn:nowhere", "dog") == "unknown"


def test_a_system_without_content_is_open() -> None:
    """Codes of a system we cannot enumerate are unknown; other systems stay invalid."""
    source = FakeSource(
        value_set("urn:vs", include=[{"system": "http://loinc.org"}, {"system": CS}]),
        animals(),
        {
            "resourceType": "CodeSystem",
            "url": "http://loinc.org",
            "content": "complete",  # as shipped by a package: only a fragment in truth
            "concept": [{"code": "1-8"}],
        },
    )
    term = PackageTerminology(source)
    assert check(term, "urn:vs", "2345-7", "http://loinc.org") == "unknown"
    assert check(term, "urn:vs", "dog") == "valid"
    assert check(term, "urn:vs", "tree") == "invalid"
    assert check(term, "urn:vs", "x", OTHER) == "invalid"


def test_fragment_code_system_codes_are_valid_and_others_unknown() -> None:
    term = PackageTerminology(
        FakeSource(animals("fragment"), value_set("urn:vs", include=[{"system": CS}]))
    )
    assert (check(term, "urn:vs", "dog"), check(term, "urn:vs", "tree")) == ("valid", "unknown")


def test_oid_and_version_aliases() -> None:
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=[{"system": CS}])))
    assert check(term, "urn:vs|2.0", "dog", "urn:oid:1.2.3.4") == "valid"
    assert check(term, "urn:vs", "dog", f"{CS}|1") == "valid"


def test_expansions_are_cached_frozensets() -> None:
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=[{"system": CS}])))
    first = term.expansion("urn:vs")
    assert first is not None
    assert isinstance(first.codes, frozenset)
    assert term.expansion("urn:vs") is first


@given(st.sets(st.sampled_from(["mammal", "dog", "puppy", "cat", "bird", "fish"])))
def test_a_concept_list_is_exactly_its_members(listed: set[str]) -> None:
    include = [{"system": CS, "concept": [{"code": c} for c in sorted(listed)]}]
    term = PackageTerminology(FakeSource(animals(), value_set("urn:vs", include=include)))
    for code in ("mammal", "dog", "puppy", "cat", "bird", "fish"):
        assert check(term, "urn:vs", code) == ("valid" if code in listed else "invalid")


# --- against the vendored packages ----------------------------------------------------


@pytest.fixture(scope="module")
def packages() -> PackageTerminology:
    return PackageTerminology(PackageIndex.load_default())


def test_implements_the_port(packages: PackageTerminology) -> None:
    port: Terminology = packages
    assert (
        port.check_code(
            "http://hl7.org/fhir/ValueSet/administrative-gender",
            "http://hl7.org/fhir/administrative-gender",
            "female",
        )
        == "valid"
    )


@pytest.mark.parametrize(
    ("vs", "system", "code", "expected"),
    [
        ("http://hl7.org/fhir/ValueSet/administrative-gender", None, "unknown", "valid"),
        ("http://hl7.org/fhir/ValueSet/administrative-gender", None, "man", "invalid"),
        ("http://hl7.org/fhir/ValueSet/observation-status", None, "final", "valid"),
        # v3 hierarchy: is-a _ActEncounterCode minus the abstract head
        (
            "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "AMB",
            "valid",
        ),
        (
            "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "_ActEncounterCode",
            "invalid",
        ),
        # is-not-a O
        (
            "http://hl7.org/fhir/ValueSet/patient-contactrelationship",
            "http://terminology.hl7.org/CodeSystem/v2-0131",
            "O",
            "invalid",
        ),
        # external systems: no content shipped
        (
            "http://hl7.org/fhir/ValueSet/observation-codes",
            "http://loinc.org",
            "29463-7",
            "unknown",
        ),
        ("http://hl7.org/fhir/ValueSet/ucum-units", "http://unitsofmeasure.org", "mg", "unknown"),
        # JP-CLINS: descendent-of over its own hierarchy
        (
            "http://jpfhir.jp/fhir/eReferral/ValueSet/document-section",
            "http://jpfhir.jp/fhir/clins/CodeSystem/document-section",
            "510",
            "valid",
        ),
        (
            "http://jpfhir.jp/fhir/clins/ValueSet/BundleResourceType_VS",
            "http://jpfhir.jp/fhir/clins/CodeSystem/BundleResourceType_CS",
            "Medication",
            "invalid",
        ),
    ],
)
def test_vendored_value_sets(
    packages: PackageTerminology, vs: str, system: str | None, code: str, expected: str
) -> None:
    assert packages.check_code(vs, system, code) == expected


JLAC10_URIS = (
    "http://medis.or.jp/CodeSystem/master-JLAC10-17digits",  # JP-CLINS 1.5.2
    "http://jpfhir.jp/fhir/core/CodeSystem/JP_ObservationLabResultCode_CS",  # JP Core 1.1.2
    "urn:oid:1.2.392.200119.4.504",
)


@pytest.mark.parametrize("system", JLAC10_URIS)
def test_jp_core_and_jp_clins_uris_of_one_oid_are_the_same_system(
    packages: PackageTerminology, system: str
) -> None:
    vs = "http://jpfhir.jp/fhir/eCS/ValueSet/JP_eCS_ObservationLabResultCode_VS"
    # MEDIS JLAC10 content is not shipped: unknown, never invalid, under any alias ...
    assert packages.check_code(vs, system, "3A015000001827101") == "unknown"
    assert packages.same_system(system, JLAC10_URIS[0])
    # ... while a system the value set does not name is invalid.
    assert packages.check_code(vs, "http://example.org/lab", "3A015000001827101") == "invalid"


@pytest.mark.parametrize(
    "pair",
    [
        ("http://jami.jp/CodeSystem/MedicationUsage", "urn:oid:1.2.392.200250.2.2.20"),
        (
            "http://jpfhir.jp/fhir/core/CodeSystem/JP_MedicationCodeHOT9_CS",
            "http://medis.or.jp/CodeSystem/master-HOT9",
        ),
        (
            "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code",
            "urn:oid:1.2.392.100495.20.1.73",
        ),
    ],
)
def test_notes_aliases(packages: PackageTerminology, pair: tuple[str, str]) -> None:
    assert packages.same_system(*pair)


def test_validate_in_system(packages: PackageTerminology) -> None:
    gender = "http://hl7.org/fhir/administrative-gender"
    assert packages.validate_in_system(gender, "male") == "valid"
    assert packages.validate_in_system(gender, "mal") == "invalid"
    assert packages.validate_in_system("http://snomed.info/sct", "22298006") == "unknown"


def test_every_vendored_value_set_expands(packages: PackageTerminology) -> None:
    index = PackageIndex.load_default()
    urls = [str(vs["url"]) for vs in index.by_type("ValueSet")]
    expansions = [packages.expansion(url) for url in urls]
    assert all(e is not None for e in expansions)
    unexpandable = sorted(u for u, e in zip(urls, expansions, strict=True) if e and not e.complete)
    # Only filters on properties the trimmed R4 package does not carry.
    assert unexpandable == [
        "http://hl7.org/fhir/ValueSet/example-filter",
        "http://hl7.org/fhir/ValueSet/media-modality",
        "http://hl7.org/fhir/ValueSet/use-context",
    ]


def test_related_codes_and_system_spellings() -> None:
    term = PackageTerminology(FakeSource(animals()))
    below = term.related_codes(CS, "mammal", below=True)
    assert below == frozenset({"mammal", "dog", "puppy", "cat"})
    above = term.related_codes("urn:oid:1.2.3.4", "puppy", below=False)
    assert above == frozenset({"puppy", "dog", "mammal"})
    assert term.related_codes(CS, "unicorn", below=True) is None
    assert term.related_codes(OTHER, "rose", below=True) is None
    assert term.system_spellings("urn:oid:1.2.3.4") == frozenset({CS, "urn:oid:1.2.3.4"})
    assert term.system_spellings(OTHER) == frozenset({OTHER})
    fragment = PackageTerminology(FakeSource(animals(content="fragment")))
    assert fragment.related_codes(CS, "mammal", below=True) is None  # not all codes listed
