"""`_sort` (several keys, ascending and descending), `_count` and keyset paging links.

Paging must neither lose nor repeat a match: every `next` page continues exactly where the
previous one ended, and `previous` goes back to the same rows.
See: https://hl7.org/fhir/R4/search.html#sort and #count, https://hl7.org/fhir/R4/http.html#paging
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.search import data
from tests.api.search.support import (
    Expected,
    SearchServer,
    cases,
    check,
    entry_ids,
    link,
    split_query,
)

BY_BIRTHDATE = [
    f"pat-{n:02d}" for n in (7, 8, 1, 2, 11, 3, 12, 4, 9, 5, 6)
]  # 1948, 1960, 1970, 1972-03, 1983, 1985, 1988, 1990, 1995, 2001, 2015
ALL_PATIENTS = [f"pat-{n:02d}" for n in range(1, 13)]
BY_GENDER_THEN_YOUNGEST = [
    *("pat-06", "pat-04", "pat-12", "pat-02", "pat-08"),  # female
    *("pat-05", "pat-03", "pat-11", "pat-01", "pat-07"),  # male
    "pat-09",  # other
]
BY_STATUS_THEN_LATEST = [
    "medreq-01b",  # active, 2024-04-01 11:05
    "medreq-01a",  # active, 2024-04-01 11:00
    "medreq-03",  # cancelled
    "medreq-06",  # completed
    "medreq-07",  # on-hold
    "medreq-01c",  # stopped
]
BY_AUTHORED = ["medreq-01c", "medreq-07", "medreq-06", "medreq-01a", "medreq-01b", "medreq-03"]

SORT_CASES: list[tuple[str, Expected]] = [
    ("Patient?_sort=birthdate&birthdate:missing=false", BY_BIRTHDATE),
    ("Patient?_sort=-birthdate&birthdate:missing=false", BY_BIRTHDATE[::-1]),
    ("Patient?_sort=_id", ALL_PATIENTS),
    ("Patient?_sort=-_id", ALL_PATIENTS[::-1]),
    ("Patient?gender=male&_sort=birthdate", ["pat-07", "pat-01", "pat-11", "pat-03", "pat-05"]),
    ("Patient?_sort=gender,-birthdate&gender:missing=false", BY_GENDER_THEN_YOUNGEST),
    (
        "Patient?_sort=address-postalcode,_id&address-state=東京都",
        ["pat-12", "pat-01", "pat-02", "pat-10"],  # 106-, 160- (twice, by id), 192-
    ),
    ("MedicationRequest?_sort=status,-authoredon", BY_STATUS_THEN_LATEST),
    ("MedicationRequest?_sort=authoredon", BY_AUTHORED),
    ("MedicationRequest?_sort=-authoredon", BY_AUTHORED[::-1]),
    (
        "MedicationRequest?patient=pat-01&status=active&_sort=-authoredon",
        ["medreq-01b", "medreq-01a"],
    ),
    (
        "Observation?code=4548-4&_sort=subject,-date",
        ["obs-hba1c-01b", "obs-hba1c-01a", "obs-hba1c-03", "obs-hba1c-08"],
    ),
    (
        "Observation?category=laboratory&value-quantity:missing=false&_sort=-value-quantity",
        [
            "obs-cgm-04",  # 142 mg/dL
            "obs-glucose-01",  # 126
            "obs-glucose-11",  # 100.5
            "obs-glucose-05",  # 99.6
            "obs-glucose-04",  # 98
            "obs-hba1c-01b",  # 7.2 %
            "obs-hba1c-01a",  # 6.5
            "obs-hba1c-03",  # 5.4
        ],
    ),
    ("Observation?patient=pat-06&_sort=-date", ["obs-temp-06b", "obs-weight-06", "obs-temp-06a"]),
    ("Encounter?_sort=date", ["enc-03", "enc-01", "enc-04", "enc-02", "enc-05"]),
    ("RiskAssessment?_sort=probability", ["risk-05", "risk-01", "risk-07", "risk-03"]),
    ("RiskAssessment?_sort=-probability", ["risk-03", "risk-07", "risk-01", "risk-05"]),
    (
        "Condition?onset-date:missing=false&_sort=onset-date",
        ["cond-dm-01", "cond-asthma-06", "cond-htn-01", "cond-ckd-08", "cond-dm-03", "cond-flu-06"],
    ),
    (
        "Organization?_id=org-kyokai,org-osaka,org-tokyo-naika&_sort=name",
        ["org-kyokai", "org-osaka", "org-tokyo-naika"],  # 全 < 大 < 東 (code point order)
    ),
    ("Practitioner?_sort=-_id", ["prac-03", "prac-02", "prac-01"]),
]


@pytest.mark.parametrize(("query", "expected"), cases(SORT_CASES))
def test_sort(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)


ALL_OBSERVATIONS = {o["id"] for o in data.OBSERVATIONS}

# Paged queries: the pages, joined, must equal the expected ids (and the same query unpaged).
PAGED_CASES: list[tuple[str, Expected]] = [
    ("Patient?_sort=birthdate&birthdate:missing=false&_count=3", BY_BIRTHDATE),
    ("Patient?_sort=-birthdate&birthdate:missing=false&_count=4", BY_BIRTHDATE[::-1]),
    ("Patient?_sort=gender,-birthdate&gender:missing=false&_count=2", BY_GENDER_THEN_YOUNGEST),
    ("Patient?_sort=-_id&_count=5", ALL_PATIENTS[::-1]),
    ("Patient?_count=5", set(ALL_PATIENTS)),
    ("MedicationRequest?_sort=status,-authoredon&_count=1", BY_STATUS_THEN_LATEST),
    ("Encounter?_sort=date&_count=2", ["enc-03", "enc-01", "enc-04", "enc-02", "enc-05"]),
    ("Observation?_count=4", ALL_OBSERVATIONS),
    # Sort keys with missing values (NULLs) and ties, across page boundaries.
    ("Observation?_sort=value-quantity&_count=3", ALL_OBSERVATIONS),
    ("Observation?_sort=-date&_count=5", ALL_OBSERVATIONS),
    ("Observation?_sort=category,-value-quantity&_count=2", ALL_OBSERVATIONS),
    ("Patient?_sort=gender&_count=3", set(ALL_PATIENTS)),
    ("Patient?_sort=birthdate&_count=3", set(ALL_PATIENTS)),  # pat-10 has none
    ("Observation?_sort=_lastUpdated&_count=4", ALL_OBSERVATIONS),
    ("Observation?_sort=-_lastUpdated,-_id&_count=6", ALL_OBSERVATIONS),
    # Paging of compartment and system searches keeps their paths.
    (
        "Patient/pat-01/Observation?_sort=-date&_count=2",
        ["obs-hba1c-01b", "obs-bp-01", "obs-weight-01", "obs-hba1c-01a", "obs-glucose-01"],
    ),
    (
        "?_type=Patient,Practitioner&_sort=_id&_count=4",
        [*ALL_PATIENTS, "prac-01", "prac-02", "prac-03"],
    ),
]


@pytest.mark.parametrize(("query", "expected"), cases(PAGED_CASES))
def test_paging(server: SearchServer, query: str, expected: Expected) -> None:
    count = int(query.rsplit("_count=", 1)[1])
    pages = server.pages(query)
    sizes = [len(entry_ids(p)) for p in pages]
    assert all(size == count for size in sizes[:-1]), sizes
    assert 0 < sizes[-1] <= count, sizes
    found = [i for p in pages for i in entry_ids(p)]
    check(found, expected)
    path, pairs = split_query(query)
    unpaged = "&".join(f"{k}={v}" for k, v in pairs if k != "_count")
    assert found == server.ids(f"{path}?{unpaged}"), "paging changed the order"


@pytest.mark.parametrize("query", [p.values[0] for p in cases(PAGED_CASES)], ids=str)
def test_previous_links_retrace_the_pages(server: SearchServer, query: object) -> None:
    """From the last page back to the first, `previous` returns exactly the earlier pages."""
    assert isinstance(query, str)
    pages = server.pages(query)
    for index in range(len(pages) - 1, 0, -1):
        previous = link(pages[index], "previous")
        assert previous is not None, f"page {index} has no previous link"
        response = server.client.get(previous)
        assert response.status_code == 200, response.text
        assert entry_ids(response.json()) == entry_ids(pages[index - 1]), f"page {index - 1}"


def test_previous_links_go_back(server: SearchServer) -> None:
    pages = server.pages("Patient?_sort=birthdate&birthdate:missing=false&_count=3")
    assert [entry_ids(p) for p in pages] == [
        BY_BIRTHDATE[0:3],
        BY_BIRTHDATE[3:6],
        BY_BIRTHDATE[6:9],
        BY_BIRTHDATE[9:],
    ]
    assert link(pages[-1], "next") is None
    for index in range(len(pages) - 1, 0, -1):
        previous = link(pages[index], "previous")
        assert previous is not None
        response = server.client.get(previous)
        assert response.status_code == 200, response.text
        assert entry_ids(response.json()) == entry_ids(pages[index - 1])


def test_includes_come_with_their_page(server: SearchServer) -> None:
    """_include is applied per page: each page carries the includes of its own matches."""
    pages = server.pages("Observation?code=4548-4&_include=Observation:patient&_sort=_id&_count=2")
    assert [entry_ids(p) for p in pages] == [
        ["obs-hba1c-01a", "obs-hba1c-01b"],
        ["obs-hba1c-03", "obs-hba1c-08"],
    ]
    assert [set(entry_ids(p, "include")) for p in pages] == [{"pat-01"}, {"pat-03", "pat-08"}]


def test_total_counts_matches_not_includes(server: SearchServer) -> None:
    query = "Observation?code=4548-4&_include=Observation:patient"
    assert server.bundle(query)["total"] == 4
    assert server.bundle(query + "&_total=accurate&_count=1")["total"] == 4


def test_post_search_pages_with_next_links(server: SearchServer) -> None:
    """The next link of a POST _search continues the same search."""
    response = server.client.post(
        "/fhir/Patient/_search", data={"gender": "female", "_sort": "birthdate", "_count": "2"}
    )
    assert response.status_code == 200, response.text
    found = entry_ids(response.json())
    url = link(response.json(), "next")
    while url is not None:
        page = server.client.get(url)
        assert page.status_code == 200, page.text
        found += entry_ids(page.json())
        url = link(page.json(), "next")
    assert found == ["pat-08", "pat-02", "pat-12", "pat-04", "pat-06"]


def _cursor(server: SearchServer, query: str) -> str:
    next_url = link(server.bundle(query), "next")
    assert next_url is not None
    (cursor,) = parse_qs(urlsplit(next_url).query)["_cursor"]
    return cursor


@pytest.mark.parametrize(
    ("issued_by", "used_with"),
    [
        # The cursor has no sort values, the search sorts by one key.
        ("Patient?_count=2", "Patient?_sort=birthdate&_count=2"),
        # One sort value where two keys are sorted.
        ("Patient?_sort=birthdate&_count=2", "Patient?_sort=gender,birthdate&_count=2"),
        # A string sort value where the search sorts by date.
        ("Patient?_sort=_id&_count=2", "Patient?_sort=birthdate&_count=2"),
    ],
    ids=["no-keys", "fewer-keys", "other-type"],
)
def test_cursor_of_another_search_is_refused(
    server: SearchServer, issued_by: str, used_with: str
) -> None:
    """A cursor that does not fit the search's sort is a bad request, not a server error."""
    status, body = server.get(f"{used_with}&_cursor={_cursor(server, issued_by)}")
    assert status == 400, body
    assert body["resourceType"] == "OperationOutcome"


def test_zero_count_total_is_not_zero(server: SearchServer) -> None:
    """With _count=0 nothing fits on the page; a total, if given, still counts every match."""
    bundle = server.bundle("Patient?gender=female&_count=0")
    assert entry_ids(bundle) == []
    assert bundle.get("total", 5) == 5


def test_zero_count_returns_no_entries(server: SearchServer) -> None:
    bundle = server.bundle("Patient?gender=female&_count=0&_total=accurate")
    assert entry_ids(bundle) == []
    assert bundle["total"] == 5
    assert link(bundle, "next") is None


def test_total_by_default_only_when_all_on_first_page(server: SearchServer) -> None:
    assert server.bundle("Patient?gender=male")["total"] == 5
    paged = server.bundle("Patient?gender=male&_count=2")
    assert "total" not in paged
    assert link(paged, "next") is not None


@pytest.mark.parametrize("mode", ["accurate", "estimate"])
def test_total_on_request(server: SearchServer, mode: str) -> None:
    bundle = server.bundle(f"Patient?gender=male&_count=2&_total={mode}")
    assert len(entry_ids(bundle)) == 2
    if mode == "accurate":
        assert bundle["total"] == 5
    else:
        assert isinstance(bundle["total"], int)


def test_total_none_on_a_paged_search(server: SearchServer) -> None:
    assert "total" not in server.bundle("Patient?gender=male&_count=2&_total=none")


@pytest.mark.parametrize(
    ("query", "total"),
    [
        ("Patient?gender=male&_summary=count", 5),
        ("Patient?_summary=count", 12),
        ("Observation?patient.name=山田&_summary=count", 6),
        ("Patient?_has:Condition:subject:code=E11.9&_summary=count", 2),
        ("Patient?family=山田次郎&_summary=count", 0),
    ],
    ids=lambda v: str(v),
)
def test_summary_count(server: SearchServer, query: str, total: int) -> None:
    bundle = server.bundle(query)
    assert bundle["total"] == total
    assert entry_ids(bundle) == []
