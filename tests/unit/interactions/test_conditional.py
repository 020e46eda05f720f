"""Parsing the criteria of conditional interactions."""

from __future__ import annotations

import pytest

from tsunagu.fhir.outcomes import FhirError
from tsunagu.interactions.conditional import parse_criteria
from tsunagu.storage.repository import IdentifierCriterion


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("identifier=s|v", IdentifierCriterion("s", "v")),
        ("identifier=|v", IdentifierCriterion("", "v")),
        ("identifier=s|", IdentifierCriterion("s", None)),
        ("identifier=v", IdentifierCriterion(None, "v")),
        ("identifier=urn%3Aoid%3A1.2%7C0001", IdentifierCriterion("urn:oid:1.2", "0001")),
    ],
)
def test_identifier_token_forms(query: str, expected: IdentifierCriterion) -> None:
    ids, identifiers = parse_criteria("Patient", query)
    assert ids == []
    assert identifiers == [expected]


def test_id_list() -> None:
    assert parse_criteria("Patient", "_id=a,b")[0] == ["a", "b"]


@pytest.mark.parametrize("query", ["", "_format=json", "name=x", "_id=a&_id=b", "identifier=a,b"])
def test_refused_criteria(query: str) -> None:
    with pytest.raises(FhirError) as raised:
        parse_criteria("Patient", query)
    assert raised.value.status == 400
