"""Keyset paging under `_sort`, as properties: no match lost or repeated, whatever the keys,
their directions, the ties and the page size.

Patients share birthdates (of day, month and year precision), genders and family names, and
some lack them, so most sort values tie and pages end in the middle of a run of equal values,
where keyset paging goes wrong if it does. For any `_sort` of one or two keys and any `_count`:

- the `next` links give every match exactly once, in the order of one large page;
- that order follows the keys: ascending by a value's start (its lowest value), descending by
  its end (its highest), a missing value last either way;
- the `previous` links from the last page give the same pages back, in reverse.

Both backends, over HTTP.
See: https://hl7.org/fhir/R4/search.html#sort and https://hl7.org/fhir/R4/http.html#paging
"""

from __future__ import annotations

import random
from datetime import date
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import BASE, entry_ids, link, loaded_client
from tsunagu.search.text import normalize

BIRTHDATES = ["1970", "1970-03", "1970-03-01", "1970-03-02", "1985-12-31", "2001-01-01", None]
GENDERS = ["male", "female", "other", None]
FAMILIES = ["山田", "やまだ", "佐藤", "サトウ", "Abe", "abe", None]
KEYS = ["birthdate", "gender", "family", "_id"]


def _patients() -> dict[str, dict[str, Any]]:
    rng = random.Random(20261123)
    out: dict[str, dict[str, Any]] = {}
    for n in range(70):
        patient: dict[str, Any] = {"resourceType": "Patient", "id": f"pg{n:03d}"}
        birthdate, gender, family = (rng.choice(x) for x in (BIRTHDATES, GENDERS, FAMILIES))
        if birthdate is not None:
            patient["birthDate"] = birthdate
        if gender is not None:
            patient["gender"] = gender
        if family is not None:
            patient["name"] = [{"family": family}]
        out[patient["id"]] = patient
    return out


PATIENTS = _patients()


client = loaded_client(PATIENTS.values())


def _day_range(text: str) -> tuple[date, date]:
    """First and last day of a date of year, month or day precision (the same shift to UTC
    applies to them all, so days order them as the server's ranges do)."""
    parts = [int(p) for p in text.split("-")]
    if len(parts) == 1:
        return date(parts[0], 1, 1), date(parts[0], 12, 31)
    if len(parts) == 2:
        following = date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
        return date(parts[0], parts[1], 1), date.fromordinal(following.toordinal() - 1)
    day = date(*parts)
    return day, day


def sort_value(patient: dict[str, Any], key: str, descending: bool) -> Any:
    """The value a key sorts a patient by (None: missing)."""
    if key == "_id":
        return patient["id"]
    if key == "gender":
        return patient.get("gender")
    if key == "family":
        names = patient.get("name")
        return normalize(names[0]["family"]) if names else None
    if "birthDate" not in patient:
        return None
    low, high = _day_range(patient["birthDate"])
    return high if descending else low


def in_order(first: dict[str, Any], second: dict[str, Any], sort: list[str]) -> bool:
    """Whether `first` may come before `second` (ties may go either way)."""
    for raw in sort:
        key, descending = raw.lstrip("-"), raw.startswith("-")
        a, b = sort_value(first, key, descending), sort_value(second, key, descending)
        if a == b:
            continue
        if a is None or b is None:
            return b is None  # missing values last
        return bool(a > b) if descending else bool(a < b)
    return True


def _get(client: TestClient, url: str) -> dict[str, Any]:
    assert url.startswith(BASE + "/"), url
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    return bundle


def pages(client: TestClient, sort: str, count: int) -> list[dict[str, Any]]:
    out = [_get(client, f"{BASE}/Patient?_sort={sort}&_count={count}")]
    while (url := link(out[-1], "next")) is not None:
        assert len(out) <= len(PATIENTS), "more pages than patients"
        out.append(_get(client, url))
    return out


sorts = st.lists(
    st.sampled_from(KEYS).flatmap(lambda key: st.sampled_from([key, f"-{key}"])),
    min_size=1,
    max_size=2,
    unique_by=lambda raw: raw.lstrip("-"),
)


@settings(max_examples=40)
@given(sort=sorts, count=st.integers(2, 12))
def test_pages_give_every_match_once_in_the_order_of_the_keys(
    client: TestClient, sort: list[str], count: int
) -> None:
    joined = ",".join(sort)
    whole = entry_ids(_get(client, f"{BASE}/Patient?_sort={joined}&_count=1000"))
    assert sorted(whole) == sorted(PATIENTS)
    for first, second in pairwise(whole):
        assert in_order(PATIENTS[first], PATIENTS[second], sort), (first, second)
    paged = pages(client, joined, count)
    assert all(len(entry_ids(page)) <= count for page in paged)
    assert [id for page in paged for id in entry_ids(page)] == whole
    back = [paged[-1]]
    while (url := link(back[-1], "previous")) is not None:
        assert len(back) <= len(paged), "more pages back than forward"
        back.append(_get(client, url))
    assert [entry_ids(page) for page in reversed(back)] == [entry_ids(page) for page in paged]


ELEMENT = {"birthdate": "birthDate", "gender": "gender", "family": "name"}


@pytest.mark.parametrize("param", sorted(ELEMENT))
def test_missing_splits_the_patients_by_whether_they_have_the_element(
    client: TestClient, param: str
) -> None:
    without = {id for id, p in PATIENTS.items() if ELEMENT[param] not in p}
    assert 0 < len(without) < len(PATIENTS)
    missing = entry_ids(_get(client, f"{BASE}/Patient?{param}:missing=true&_count=1000"))
    present = entry_ids(_get(client, f"{BASE}/Patient?{param}:missing=false&_count=1000"))
    assert sorted(missing) == sorted(without)
    assert sorted(present) == sorted(set(PATIENTS) - without)


@settings(max_examples=20)
@given(gender=st.sampled_from([g for g in GENDERS if g]), count=st.integers(1, 5))
def test_totals_count_every_match_whatever_the_page(
    client: TestClient, gender: str, count: int
) -> None:
    expected = sum(1 for p in PATIENTS.values() if p.get("gender") == gender)
    query = f"{BASE}/Patient?gender={gender}"
    assert _get(client, f"{query}&_summary=count")["total"] == expected
    first = _get(client, f"{query}&_total=accurate&_count={count}")
    assert first["total"] == expected
    assert len(entry_ids(first)) == min(count, expected)
