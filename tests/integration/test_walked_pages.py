"""Pages of a common value read by walking `resources` in key order (`searching._walked`)
return exactly what fetching the value's keys returns, page after page, on both databases."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.integration.paging import follow
from tsunagu.search.plan import Cursor, KeySet, common_query, page_query, walk_driver
from tsunagu.search.query import SearchQuery, parse
from tsunagu.storage.sql import searching
from tsunagu.storage.sql.repository import SqlRepository
from tsunagu.storage.sql.searching import spread

PATIENTS = 240


@pytest.fixture
def populated(repo: SqlRepository) -> SqlRepository:
    """Patients, two thirds men and the last three of another gender, each followed by two
    Observations (so the men are spread over the keys, among other types)."""
    with repo.session() as session:
        for n in range(PATIENTS):
            gender = "other" if n >= PATIENTS - 3 else ("male" if n % 3 else "female")
            family = "サトウ" if n % 4 == 0 else "スズキ"
            body = {
                "resourceType": "Patient",
                "gender": gender,
                "active": n % 5 != 0,
                "name": [{"family": family, "given": ["タロウ"]}],
            }
            session.save("Patient", f"p{n:04d}", body, method="PUT", previous=None)
            for k in range(2):
                observation = {"resourceType": "Observation", "status": "final"}
                session.save("Observation", f"o{n}-{k}", observation, method="PUT", previous=None)
    return repo


def _both_ways(repo: SqlRepository, query: SearchQuery) -> tuple[list[list[str]], ...]:
    """The pages forward from the start, and backwards from beyond the last key."""
    return follow(repo, query, None), follow(repo, query, Cursor((), 10**9, backwards=True))


@pytest.mark.parametrize(("window", "count"), [(50, 7), (3, 5), (7, 1), (10_000, 50), (130, 40)])
@pytest.mark.parametrize(
    "criteria",
    [
        [("gender", "male")],
        [("gender", "male"), ("active", "true")],
        [("name", "サトウ")],
        [("gender", "other")],
        [("_lastUpdated", "ge2000-01-01")],
        [("_lastUpdated", "ge2000-01-01"), ("gender", "other")],
    ],
    ids=["common", "two criteria", "name prefix", "rare", "last updated", "rare, updated"],
)
def test_walked_pages_are_the_fetched_pages(
    populated: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    window: int,
    count: int,
    criteria: list[tuple[str, str]],
) -> None:
    query = replace(parse(populated.registry, ["Patient"], criteria), count=count)
    monkeypatch.setattr(searching, "WALK_COMMON", 10**9)
    fetched = _both_ways(populated, query)
    monkeypatch.setattr(searching, "WALK_COMMON", 3)
    monkeypatch.setattr(searching, "WALK_WINDOW", window)
    walked: list[tuple[str, str]] = []
    original = searching.execute

    def spy(d, conn, fragment):  # type: ignore[no-untyped-def]
        walked.append(fragment.sql)
        return original(d, conn, fragment)

    monkeypatch.setattr(searching, "execute", spy)
    assert _both_ways(populated, query) == fetched
    forward, backward = fetched
    ids = [id for page in forward for id in page]
    assert ids == sorted(ids)  # key order: the patients were stored in id order
    assert len(ids) == len(set(ids))
    assert [id for page in backward for id in page] == ids[::-1]
    assert any("r.res_key <= ?" in sql for sql in walked)  # the walk did run


def test_a_walk_reads_the_window_by_key_and_probes_the_owner_index(
    populated: SqlRepository,
) -> None:
    query = parse(populated.registry, ["Patient"], [("gender", "male")])
    assert walk_driver(query) is not None
    d = populated.dialect
    with d.writer() as conn:
        conn.execute("ANALYZE")
    statement = page_query(query, None, 11, window=(0, 50), hints=d.name == "sqlite")
    sql, params = spread(d, statement)
    with d.reader() as conn:
        if d.name == "sqlite":
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "SEARCH r USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan
            assert "search_token_owner" in plan
            assert "search_token_lookup0" not in plan
        else:
            rows = conn.execute(f"EXPLAIN {d.sql(sql)}", params).fetchall()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "Index Scan using resources_pkey on resources r" in plan
            assert "Index Cond: ((res_key > " in plan


def test_a_walk_goes_on_only_where_its_matches_say_a_window_fills_the_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(searching, "WALK_WINDOW", 8_000)
    # 10 of 21 in 8,000 resources: 11 more in 1.5 x 8,800 resources.
    assert searching._next_window(10, 21, 8_000) == 13_200
    assert searching._next_window(20, 21, 8_000) == 600
    # Nothing found (the value may cluster elsewhere), or too far to walk: fetch instead.
    assert searching._next_window(0, 21, 8_000) is None
    assert searching._next_window(2, 21, 8_000) is None  # 114,000 more
    assert searching._next_window(10, 21, 24_000) is None  # within 32,000 in all


def test_the_count_of_a_common_value_reads_the_lookup_index_alone(
    populated: SqlRepository,
) -> None:
    d = populated.dialect
    with d.writer() as conn:
        conn.execute("ANALYZE")
    driver = walk_driver(parse(populated.registry, ["Patient"], [("name", "サトウ")]))
    assert driver is not None
    sql, params = spread(d, common_query(driver, 1000))
    with d.reader() as conn:
        if d.name == "sqlite":
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert plan.count("USING COVERING INDEX search_string_lookup0") == 3  # the row codes
        else:
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_bitmapscan = off")
            try:
                rows = conn.execute(f"EXPLAIN {d.sql(sql)}", params).fetchall()
            finally:
                conn.execute("RESET enable_seqscan")
                conn.execute("RESET enable_bitmapscan")
            plan = "\n".join(str(row[-1]) for row in rows)
            assert plan.count("Index Only Scan using search_string_lookup0") == 3


@pytest.mark.parametrize(
    ("criteria", "rarer"),
    [
        ([("active", "true"), ("gender", "other")], "other"),
        ([("gender", "other"), ("active", "true")], None),  # the ranks chose it already
        ([("active", "true"), ("gender", "male")], None),  # both common: the walk runs
        ([("active", "true"), ("name:contains", "ナカ")], None),  # a pattern is not counted
    ],
)
@pytest.mark.parametrize("sort", [None, "-family"])
def test_a_rare_criterion_drives_instead_of_a_common_one(
    populated: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    criteria: list[tuple[str, str]],
    rarer: str | None,
    sort: str | None,
) -> None:
    """`Patient?gender=female&birthdate=1950-01-01` ranks the token first (a code), but
    gender is common and a birthdate rare: the rare one drives, the pages stay the same."""
    pairs = criteria if sort is None else [*criteria, ("_sort", sort)]
    query = replace(parse(populated.registry, ["Patient"], pairs), count=2)
    monkeypatch.setattr(searching, "WALK_COMMON", 10**9)
    fetched = follow(populated, query, None)
    monkeypatch.setattr(searching, "WALK_COMMON", 10)
    chosen: list[KeySet | None] = []
    original = searching._rarer

    def spy(d, conn, query):  # type: ignore[no-untyped-def]
        chosen.append(original(d, conn, query))
        return chosen[-1]

    monkeypatch.setattr(searching, "_rarer", spy)
    assert follow(populated, query, None) == fetched
    if rarer is None:
        assert not any(chosen)
    else:
        assert fetched[0]  # something matched
        assert chosen
        assert all(k is not None and rarer in k.where.params for k in chosen)


def test_a_walk_that_does_not_fill_the_page_fetches_from_the_fewest_rows(
    populated: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both values common, the walk too short to fill the page: the rest comes from the
    criterion with fewer rows (サトウ, a quarter of the patients), not the one the ranks
    chose (a gender, two thirds)."""
    query = replace(
        parse(populated.registry, ["Patient"], [("gender", "male"), ("family", "サトウ")]),
        count=10,
    )
    monkeypatch.setattr(searching, "WALK_COMMON", 10**9)
    fetched = follow(populated, query, None)
    monkeypatch.setattr(searching, "WALK_COMMON", 3)
    monkeypatch.setattr(searching, "WALK_WINDOW", 2)
    monkeypatch.setattr(searching, "WALK_GROWTH", 100)  # counts reach 200 rows at most
    drivers: list[KeySet | None] = []
    original = page_query

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        if "window" not in kwargs:
            drivers.append(kwargs.get("driver"))
        return original(*args, **kwargs)

    monkeypatch.setattr(searching, "page_query", spy)
    assert follow(populated, query, None) == fetched
    assert drivers
    assert all(k is not None and "サトウ" in k.where.params for k in drivers)
