"""A chain without a type modifier follows references to every target type its parameter
allows (`subject.identifier`: a Patient's, a Group's, a Device's...), each type's matches
found first, then the references to them (`plan._chain`); on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from tsunagu.search import plan
from tsunagu.search.query import parse
from tsunagu.storage.sql.repository import SqlRepository

SYSTEM = "urn:oid:1.2.392.100495.20.3.51.11312345678"


def _observation(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "体温"},
        "subject": {"reference": subject},
    }


@pytest.fixture
def populated(repo: SqlRepository) -> SqlRepository:
    resources: list[tuple[str, str, dict[str, Any]]] = [
        ("Patient", "pat-a", {"identifier": [{"system": SYSTEM, "value": "0001"}]}),
        ("Patient", "pat-b", {"identifier": [{"system": SYSTEM, "value": "0002"}]}),
        ("Device", "dev-a", {"identifier": [{"system": SYSTEM, "value": "0001"}]}),
        ("Group", "grp-b", {"identifier": [{"system": SYSTEM, "value": "0002"}]}),
    ]
    subjects = {"obs-pa": "Patient/pat-a", "obs-pb": "Patient/pat-b"}
    subjects |= {"obs-da": "Device/dev-a", "obs-gb": "Group/grp-b", "obs-x": "Patient/gone"}
    with repo.session() as session:
        for rtype, id, body in resources:
            content = {"resourceType": rtype, **body}
            session.save(rtype, id, content, method="PUT", previous=None)
        for id, subject in subjects.items():
            body = _observation(subject)
            session.save("Observation", id, body, method="PUT", previous=None)
    return repo


def _ids(repo: SqlRepository, pairs: list[tuple[str, str]]) -> set[str]:
    query = parse(repo.registry, ["Observation"], pairs)
    return {m.resource.id for m in repo.search(query, None)}


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("subject.identifier", f"{SYSTEM}|0001")], {"obs-pa", "obs-da"}),
        ([("subject.identifier", "0002")], {"obs-pb", "obs-gb"}),
        ([("subject.identifier", "0001,0002")], {"obs-pa", "obs-da", "obs-pb", "obs-gb"}),
        ([("subject:Device.identifier", "0001")], {"obs-da"}),
        # `patient` is `subject.where(resolve() is Patient)`: Patients' only.
        ([("patient.identifier", "0001")], {"obs-pa"}),
        ([("patient.identifier", "0002")], {"obs-pb"}),
        ([("subject.identifier", "0001"), ("patient.identifier", "0001")], {"obs-pa"}),
        ([("subject.identifier", "0003")], set()),
        # An inner test that cannot name its matches (a negation) takes the other way.
        ([("subject:Patient.identifier:not", "0001")], {"obs-pb"}),
    ],
)
def test_an_untyped_chain_follows_every_target_type(
    populated: SqlRepository, pairs: list[tuple[str, str]], expected: set[str]
) -> None:
    assert _ids(populated, pairs) == expected


def test_the_targets_of_every_type_are_named_first(populated: SqlRepository) -> None:
    """One key set starting from the union of each target type's matches, not an OR of
    the types over every reference row (seconds at a million resources)."""
    query = parse(populated.registry, ["Observation"], [("subject.identifier", "0001")])
    driver = plan.select(query).driver
    assert driver is not None
    assert driver.tables.startswith("(SELECT")
    assert driver.tables.count("UNION ALL") == 3  # Group, Device, Patient, Location
