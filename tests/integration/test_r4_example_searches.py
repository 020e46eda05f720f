"""Searches over the official R4 examples find what the spec's examples and parameters say.

Two kinds of checks, on both backends, with every non-conformance example loaded:
- known answers taken from the example resources as published (hand-checked);
- for every example and every token/reference/string value its search parameters index,
  a search by that value finds the example (the parameters' definitions "suggest" it).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_r4_examples import EXAMPLES_PACKAGE, instance_examples
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.search.index import index_resource
from tsunagu.settings import Settings

pytestmark = pytest.mark.skipif(
    not EXAMPLES_PACKAGE.is_file(),
    reason=f"FHIR R4 example package not found at {EXAMPLES_PACKAGE}",
)

# (query, ids that must be among the results)
KNOWN = [
    ("Patient?family=Chalmers", {"Patient/example"}),
    ("Patient?given=peter&birthdate=1974-12-25", {"Patient/example"}),
    ("Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|12345", {"Patient/example"}),
    ("Observation?code=http://loinc.org|29463-7", {"Observation/example"}),
    (
        "Observation?code=29463-7&value-quantity=185|http://unitsofmeasure.org|[lb_av]",
        {"Observation/example"},
    ),
    ("Observation?subject=Patient/example&date=2016", {"Observation/example"}),
    ("Observation?code-value-quantity=http://loinc.org|29463-7$gt180", {"Observation/example"}),
    (
        "Observation?component-code-value-quantity=http://loinc.org|8480-6$107",
        {"Observation/blood-pressure"},
    ),
    ("Condition?code=http://snomed.info/sct|39065001", {"Condition/example"}),
    (
        "MedicationRequest?status=completed&subject:Patient.family=Donald",
        {"MedicationRequest/medrx0304"},
    ),
    ("AllergyIntolerance?patient=Patient/example&criticality=high", {"AllergyIntolerance/example"}),
    ("Patient?_has:Observation:subject:code=29463-7", {"Patient/example"}),
    ("Encounter?status=finished&subject:Patient.name=Roel", {"Encounter/f203"}),
    # The spec's own `near` example (location.html), which the `hl7` Location answers (its
    # published position has latitude and longitude the same way round), and Location/1.
    ("Location?near=-83.694810|42.256500|11.20|km", {"Location/hl7"}),
    ("Location?near=42.256500|-83.694810|11.20|km", {"Location/1"}),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ex')}/examples.db"
        cleanup = None
    else:
        from tests.pgserver import create_database, drop_database

        server = request.getfixturevalue("postgres_server")
        name = f"examples_{random.randrange(10**9)}"
        url = create_database(server, name)
        cleanup = (server, name, drop_database)
    platform = build_platform(Settings(database_url=url))
    ctx = platform.context("http://testserver/fhir")
    for example in instance_examples():
        resource = example.resource
        response = dispatch(
            ctx, FhirRequest("PUT", f"{resource['resourceType']}/{resource['id']}", body=resource)
        )
        assert response.status in (200, 201), example.name
    yield platform
    platform.close()
    if cleanup is not None:
        server, name, drop = cleanup
        drop(server, name)


def _ids(platform: Platform, query: str) -> set[str]:
    path, _, raw = query.partition("?")
    pairs = tuple(tuple(p.split("=", 1)) for p in raw.split("&") if p)
    found: set[str] = set()
    request = FhirRequest("GET", path, query=(*pairs, ("_count", "1000")))  # type: ignore[arg-type]
    response = dispatch(platform.context("http://testserver/fhir"), request)
    assert response.status == 200, query
    assert response.resource is not None
    for entry in response.resource.get("entry", []):
        resource = entry["resource"]
        if entry["search"]["mode"] == "match":
            found.add(f"{resource['resourceType']}/{resource['id']}")
    return found


@pytest.mark.parametrize(("query", "expected"), KNOWN)
def test_known_answers(loaded: Platform, query: str, expected: set[str]) -> None:
    assert expected <= _ids(loaded, query)


def _suggested(platform: Platform) -> list[tuple[str, str]]:
    """(query, resource) pairs from each example's own index values (token/reference/string)."""
    rng = random.Random(2026)
    cases: list[tuple[str, str]] = []
    for example in instance_examples():
        resource: dict[str, Any] = example.resource
        rows = index_resource(resource, platform.registry)
        rtype = resource["resourceType"]
        key = f"{rtype}/{resource['id']}"
        for param, grp, system, code, _text in rows["search_token"]:
            if grp is None and code and "|" not in param and "," not in code + system:
                value = f"{system}|{code}" if system else code
                cases.append((f"{rtype}?{param}={_escape(value)}", key))
        for param, grp, target_type, target_id, *_ in rows["search_reference"]:
            if grp is None and target_type and target_id:
                cases.append((f"{rtype}?{param}={target_type}/{target_id}", key))
        for param, grp, _norm, exact in rows["search_string"]:
            if grp is None and exact.strip() and "," not in exact and "&" not in exact:
                cases.append((f"{rtype}?{param}:exact={_escape(exact)}", key))
    rng.shuffle(cases)
    return cases[:1200]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("$", "\\$")


def test_every_indexed_value_finds_its_example(loaded: Platform) -> None:
    cases = _suggested(loaded)
    assert len(cases) >= 1000
    misses = [
        f"{query} did not find {key}" for query, key in cases if key not in _ids(loaded, query)
    ]
    assert not misses, "\n".join(misses[:20])
