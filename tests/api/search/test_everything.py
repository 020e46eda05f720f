"""Patient/$everything when its page statement also checks the owner (no access control):
a missing or deleted patient is still a 404, before any other refusal, and an empty page of
an existing patient is still a 200; long `IN` lists (one array parameter on PostgreSQL) find
the same resources as short ones.
See: https://hl7.org/fhir/R4/patient-operation-everything.html
"""

from __future__ import annotations

import pytest

from tests.api.search import data
from tests.api.search.support import SearchServer, check, entry_ids, pats

MISSING = ("Patient/pat-404", "Patient/pat-99")  # never stored; deleted after loading


@pytest.mark.parametrize("owner", MISSING)
@pytest.mark.parametrize(
    "query",
    [
        "$everything",
        "$everything?_count=2",
        "$everything?_type=Observation",
        "$everything?_summary=count",
        # Refusals of the request itself come after the owner's 404.
        "$everything?start=2024-01-01",
        "$everything?_type=Practitioner",
        "$everything?_cursor=not-a-cursor",
        "$everything?_since=yesterday",
    ],
)
def test_everything_of_a_missing_patient_is_not_found(
    server: SearchServer, owner: str, query: str
) -> None:
    status, body = server.get(f"{owner}/{query}")
    assert status == 404, body
    assert body["resourceType"] == "OperationOutcome"
    assert owner in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("Patient/pat-06/$everything?start=yesterday", 400),
        ("Patient/pat-06/$everything?start=2024-04-02&end=2024-04-01", 400),
        ("Patient/pat-06/$everything?_type=Practitioner", 400),
        ("Patient/pat-06/$everything?_cursor=not-a-cursor", 400),
    ],
)
def test_refusals_of_an_existing_patient_keep_their_status(
    server: SearchServer, query: str, status: int
) -> None:
    code, body = server.get(query)
    assert code == status, body
    assert body["resourceType"] == "OperationOutcome"


def test_an_empty_page_of_an_existing_patient_is_found(server: SearchServer) -> None:
    bundle = server.bundle("Patient/pat-08/$everything?_type=AllergyIntolerance")
    assert entry_ids(bundle) == []
    assert bundle["total"] == 0


def test_everything_counts_the_whole_record(server: SearchServer) -> None:
    bundle = server.bundle("Patient/pat-01/$everything?_summary=count")
    assert bundle["total"] == len(server.ids("Patient/pat-01/$everything"))


def test_pages_of_everything_are_the_whole_record_once_in_key_order(
    server: SearchServer,
) -> None:
    whole = server.ids("Patient/pat-01/$everything?_count=100")
    for count in (1, 3, 7):
        assert server.ids(f"Patient/pat-01/$everything?_count={count}") == whole
    assert whole[0] == "pat-01"  # the patient was stored before its record
    assert len(set(whole)) == len(whole)


def test_long_id_lists_match_like_short_ones(server: SearchServer) -> None:
    ids = [p["id"] for p in data.PATIENTS]
    assert len(ids) > 8  # long enough to be passed as one list parameter
    check(server.ids(f"Patient?_id={','.join(ids)}&_count=100"), set(ids))
    check(server.ids(f"Patient?_id={','.join([*ids, 'pat-99', 'pat-404'])}"), set(ids))
    check(server.ids("Patient?_id=pat-01,pat-02,pat-99"), pats(1, 2))
