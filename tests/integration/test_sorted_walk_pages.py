"""Sorted pages read along the sort key's index (`searching._sort_walked`) are the pages that
computing every match's sort value gives, page after page, forwards and backwards, on both
databases: with ties, resources with several values or none, and periods whose start and
end differ."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.integration.paging import follow
from tsunagu.search import sorted_pages
from tsunagu.search.plan import Cursor, KeySet
from tsunagu.search.query import SearchQuery, parse
from tsunagu.search.sql import Fragment
from tsunagu.storage.sql import searching
from tsunagu.storage.sql.repository import SqlRepository
from tsunagu.storage.sql.searching import spread

PATIENTS = 90
FAMILIES = ["アベ", "イトウ", "サトウ", "スズキ", "タナカ"]


def _patient(n: int) -> dict[str, Any]:
    names = [{"family": FAMILIES[n % 5], "given": ["タロウ"]}]
    if n % 4 == 0:  # a second name: the sort value is the least (or greatest) of the two
        names.append({"family": FAMILIES[(n * 7 + 2) % 5]})
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "gender": "other" if n % 30 == 29 else ("male" if n % 3 else "female"),
        "active": n % 5 != 0,
        "name": names,
    }
    if n % 11 != 10:  # some have no birthdate, and sort last
        body["birthDate"] = f"19{50 + (n * 13) % 9}-0{1 + n % 3}-1{n % 2}"  # many ties
    return body


def _observation(n: int, k: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final" if (n + k) % 7 else "amended",
        "code": {"text": "体温"},
        "subject": {"reference": f"Patient/p{n:03d}"},
    }
    day = 1 + (n * 5 + k) % 12
    if (n + k) % 6 == 0:  # a period: `-date` sorts by its end, `date` by its start
        body["effectivePeriod"] = {"start": f"2024-03-{day:02d}", "end": f"2024-04-{day:02d}"}
    elif (n + k) % 9 != 4:
        body["effectiveDateTime"] = f"2024-03-{day:02d}T09:00:00+09:00"
    return body


@pytest.fixture
def populated(repo: SqlRepository) -> SqlRepository:
    with repo.session() as session:
        for n in range(PATIENTS):
            session.save("Patient", f"p{n:03d}", _patient(n), method="PUT", previous=None)
            for k in range(2):
                body = _observation(n, k)
                session.save("Observation", f"o{n:03d}-{k}", body, method="PUT", previous=None)
    return repo


def _both_ways(repo: SqlRepository, query: SearchQuery) -> tuple[list[list[str]], ...]:
    """The pages forward from the start, and backwards from the last match."""
    last = repo.search(replace(query, count=10_000), None)[-1]
    return follow(repo, query, None), follow(repo, query, Cursor(last.sort_values, last.key, True))


CASES = {
    "birthdate of a common value": ("Patient", [("gender", "male")], "birthdate"),
    "latest birthdate first": ("Patient", [("gender", "male")], "-birthdate"),
    "family, two names for some": ("Patient", [], "family"),
    "family descending, two criteria": (
        "Patient",
        [("gender", "male"), ("active", "true")],
        "-family",
    ),
    "period start": ("Observation", [("status", "final")], "date"),
    "period end, latest first": ("Observation", [("status", "final")], "-date"),
    "last updated": ("Observation", [("status", "final")], "-_lastUpdated"),
    "rare value": ("Patient", [("gender", "other")], "birthdate"),
    # Further keys order the ties of the first (patients without a birthdate last in each).
    "family, then birthdate": ("Patient", [], "family,birthdate"),
    "family descending, then latest birthdate": (
        "Patient",
        [("gender", "male")],
        "-family,-birthdate",
    ),
    "birthdate, then family descending": ("Patient", [("gender", "male")], "birthdate,-family"),
    "period end, then id": ("Observation", [("status", "final")], "-date,_id"),
}


@pytest.mark.parametrize(
    ("window", "count", "tie_chunk"), [(10, 5, 3), (40, 7, 200), (10_000, 40, 2), (12, 3, 4)]
)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_walked_sorted_pages_are_the_computed_pages(
    populated: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    window: int,
    count: int,
    tie_chunk: int,
) -> None:
    rtype, criteria, sort = CASES[case]
    query = replace(parse(populated.registry, [rtype], [*criteria, ("_sort", sort)]), count=count)
    original = sorted_pages.sort_walk
    monkeypatch.setattr(sorted_pages, "sort_walk", lambda query, cursor: None)
    computed = _both_ways(populated, query)
    monkeypatch.setattr(searching, "WALK_COMMON", 3)
    monkeypatch.setattr(searching, "WALK_WINDOW", window)
    monkeypatch.setattr(searching, "TIE_CHUNK", tie_chunk)
    walks: list[object] = []

    def spy(query: SearchQuery, cursor: Cursor | None) -> sorted_pages.SortWalk | None:
        walk = original(query, cursor)
        walks.append(walk)
        return walk

    monkeypatch.setattr(sorted_pages, "sort_walk", spy)
    driven: list[set[int]] = []
    keys_driver = sorted_pages.keys_driver

    def driver_spy(walk: sorted_pages.SortWalk, keys: set[int]) -> KeySet:
        driven.append(keys)
        return keys_driver(walk, keys)

    monkeypatch.setattr(sorted_pages, "keys_driver", driver_spy)
    assert _both_ways(populated, query) == computed
    assert any(walk is not None for walk in walks)  # the walk did run
    if window >= 40 and case != "rare value":
        assert driven  # and gave pages (not all fell back to computing every value)
    forward, backward = computed
    ids = [id for page in forward for id in page]
    assert len(ids) == len(set(ids))
    assert len(forward) > 1 or case == "rare value"
    assert [id for page in backward for id in page] == ids[-2::-1]


def test_walked_sorted_pages_follow_the_sort_values(
    populated: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order itself, checked against the values: latest birthdate first, ties in key
    (here: id) order, patients without one last."""
    monkeypatch.setattr(searching, "WALK_COMMON", 3)
    query = replace(
        parse(populated.registry, ["Patient"], [("gender", "male"), ("_sort", "-birthdate")]),
        count=20,
    )
    ids = [id for page in follow(populated, query, None) for id in page]
    bodies = {f"p{n:03d}": _patient(n) for n in range(PATIENTS)}
    males = [id for id, body in bodies.items() if body["gender"] == "male"]
    dated = sorted(
        (id for id in males if "birthDate" in bodies[id]),
        key=lambda id: (-int(bodies[id]["birthDate"].replace("-", "")), id),
    )
    assert ids == dated + sorted(id for id in males if "birthDate" not in bodies[id])


def _plan(repo: SqlRepository, statement: Fragment) -> str:
    d = repo.dialect
    sql, params = spread(d, statement)
    with d.reader() as conn:
        if d.name == "sqlite":
            rows = conn.execute(f"EXPLAIN QUERY PLAN {d.sql(sql)}", params).fetchall()
        else:  # as on tables too large to read whole and sort (these few rows would be)
            settings = ("enable_seqscan", "enable_bitmapscan", "enable_sort")
            for name in settings:
                conn.execute(f"SET {name} = off")
            try:
                rows = conn.execute(f"EXPLAIN {d.sql(sql)}", params).fetchall()
            finally:
                for name in settings:
                    conn.execute(f"RESET {name}")
    return "\n".join(str(row[-1]) for row in rows)


def test_the_walk_reads_the_index_in_order_and_checks_by_key(populated: SqlRepository) -> None:
    """Each statement has one plan a database can pick: the index in its own order (no
    sort of the rows read), and the listed keys by primary key."""
    with populated.dialect.writer() as conn:
        conn.execute("ANALYZE")
    query = parse(populated.registry, ["Patient"], [("gender", "male"), ("_sort", "-birthdate")])
    walk = sorted_pages.sort_walk(query, None)
    assert walk is not None
    rows = _plan(populated, sorted_pages.rows_query(walk, None, size=84))
    hints = populated.dialect.name == "sqlite"
    check = _plan(populated, sorted_pages.check_query(query, [3, 5, 8], hints=hints))
    if populated.dialect.name == "sqlite":
        assert "SEARCH x USING INDEX search_date_lookup1 (resource_type=? AND param=?)" in rows
        assert "TEMP B-TREE" not in rows
        assert "SEARCH r USING INTEGER PRIMARY KEY (rowid=?)" in check
        assert "search_token_owner" in check
    else:
        assert "Index Scan Backward using search_date_lookup1 on search_date x" in rows
        assert "Sort" not in rows
        assert "resources_pkey" in check


@pytest.mark.parametrize(
    ("pairs", "first"),
    [
        ([("subject", "Patient/p012"), ("_sort", "-date")], ["o012-0", "o012-1"]),
        # Periods ending 9 and 7 April: the latest of the アベ patients' Observations.
        ([("subject:Patient.name", "アベ"), ("_sort", "-date")], ["o035-1", "o030-0"]),
    ],
    ids=["a patient's own", "a chain"],
)
def test_pages_driven_by_a_reference_or_a_chain_are_sorted_without_a_walk(
    populated: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    pairs: list[tuple[str, str]],
    first: list[str],
) -> None:
    """A reference picks out few resources: they are sorted as they are, without counting
    them or reading the index (one statement less for every patient-scoped sorted search).
    A chain is not probed resource by resource either."""
    monkeypatch.setattr(searching, "WALK_COMMON", 1)
    statements: list[str] = []
    original = searching.execute

    def spy(d, conn, fragment):  # type: ignore[no-untyped-def]
        statements.append(fragment.sql)
        return original(d, conn, fragment)

    monkeypatch.setattr(searching, "execute", spy)
    matches = populated.search(parse(populated.registry, ["Observation"], pairs), None)
    assert [m.resource.id for m in matches][:2] == first
    assert len(statements) == 1
