"""Which sorted pages walk their sort key's index, and the statements of the walk (no
database; `tests/integration/test_sorted_walk_pages.py` runs them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.fhir.definitions import load_definitions
from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.plan import Cursor
from tsunagu.search.query import Compartment, parse
from tsunagu.search.sorted_pages import (
    SortWalk,
    check_query,
    held,
    rows_query,
    sort_walk,
    tie_query,
)


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry(load_definitions())


def _walk(registry: SearchRegistry, types: list[str], pairs: list[tuple[str, str]]) -> object:
    return sort_walk(parse(registry, types, pairs), None)


def test_one_indexed_sort_key_of_one_type_walks(registry: SearchRegistry) -> None:
    def walk(rtype: str, sort: str) -> object:
        return _walk(registry, [rtype], [("status", "final"), ("_sort", sort)])

    assert walk("Observation", "-date") == SortWalk(
        "search_date", "high", "date", "Observation", True
    )
    assert walk("Observation", "date") == SortWalk(
        "search_date", "low", "date", "Observation", False
    )
    assert walk("Observation", "-_lastUpdated") == SortWalk(
        "resources", "last_updated", None, "Observation", True
    )
    assert _walk(registry, ["Patient"], [("_sort", "family")]) == SortWalk(
        "search_string", "norm", "family", "Patient", False
    )
    # A number or quantity has an index on its low end only: ascending sorts walk.
    assert walk("Observation", "value-quantity") is not None
    assert walk("Observation", "-value-quantity") is None


def test_further_sort_keys_walk_the_first_keys_index(registry: SearchRegistry) -> None:
    assert _walk(registry, ["Observation"], [("_sort", "-date,_id")]) == SortWalk(
        "search_date", "high", "date", "Observation", True, alone=False
    )
    assert _walk(registry, ["Patient"], [("_sort", "family,given")]) == SortWalk(
        "search_string", "norm", "family", "Patient", False, alone=False
    )


def test_other_sorted_pages_do_not_walk(registry: SearchRegistry) -> None:
    assert _walk(registry, ["Observation"], [("_sort", "status")]) is None  # a code repeats
    assert _walk(registry, ["Observation"], [("_sort", "subject")]) is None
    assert _walk(registry, ["Observation"], [("_sort", "status,date")]) is None  # the first
    assert _walk(registry, ["Observation", "Condition"], [("_sort", "-_lastUpdated")]) is None
    # `name` reads its parts' rows too (`family`, `given`): not one index range.
    assert _walk(registry, ["Patient"], [("_sort", "name")]) is None
    assert _walk(registry, ["Observation"], []) is None  # not sorted: `walk_driver`'s case
    query = parse(registry, ["Observation"], [("_sort", "-date")])
    compartment = Compartment("Patient", "p1", (("Observation", ("subject",)),), False, False)
    assert sort_walk(replace(query, compartment=compartment), None) is None
    # A cursor among the matches without a value: those sort last and are not in the index.
    assert sort_walk(query, Cursor((None,), 17)) is None
    # Another search's cursor (a string where this one sorts by date) is refused later on.
    assert sort_walk(query, Cursor(("p-17",), 17)) is None
    assert sort_walk(query, Cursor((datetime(2024, 3, 1, tzinfo=UTC),), 17)) is not None


def test_the_rows_read_the_index_in_page_order_from_the_cursor(registry: SearchRegistry) -> None:
    walk = SortWalk("search_date", "high", "date", "Observation", True)
    first = rows_query(walk, None, size=84)
    assert "ORDER BY x.high DESC LIMIT ? OFFSET ?" in first.sql
    assert first.params == ("Observation", "date", 84, 0)
    when = datetime(2024, 3, 1, tzinfo=UTC)
    back = rows_query(walk, Cursor((when,), 17, backwards=True), offset=84, size=168)
    # Going back from a descending page reads the values upwards, ties by key downwards.
    assert "x.high >= ?" in back.sql
    assert "(x.high > ? OR x.res_key < ?)" in back.sql
    assert "ORDER BY x.high ASC" in back.sql
    assert back.params[-2:] == (168, 84)
    tie = rows_query(walk, Cursor((when,), 17), size=200, tie=when)
    assert "x.high = ?" in tie.sql
    assert "ORDER BY x.res_key ASC" in tie.sql


def test_with_further_keys_the_rows_start_after_the_cursors_value() -> None:
    """The cursor's own value is read as a tie (further keys order its resources), and a
    tie's rows are read whole, in no order."""
    walk = SortWalk("search_string", "norm", "family", "Patient", False, alone=False)
    cursor = Cursor(("サトウ", "タロウ"), 17)
    rows = rows_query(walk, cursor, size=84)
    assert "x.norm > ?" in rows.sql
    assert "res_key >" not in rows.sql
    assert rows.params == ("Patient", "family", "サトウ", 84, 0)
    tie = tie_query(walk, "サトウ", 8001)
    assert tie.sql.endswith(
        "WHERE (x.resource_type = ?) AND (x.param = ?) AND (x.norm = ?) LIMIT ?"
    )
    assert tie.params == ("Patient", "family", "サトウ", 8001)
    back = rows_query(walk, Cursor(("サトウ", "タロウ"), 17, backwards=True), size=84)
    assert "x.norm < ?" in back.sql
    assert "ORDER BY x.norm DESC" in back.sql


def test_a_check_tests_a_list_of_keys_against_every_criterion(registry: SearchRegistry) -> None:
    query = parse(
        registry, ["Observation"], [("status", "final"), ("code", "8310-5"), ("_sort", "-date")]
    )
    check = check_query(query, [5, 9], hints=True)
    assert "FROM resources r NOT INDEXED WHERE (r.res_key IN (?, ?))" in check.sql
    assert check.sql.count("INDEXED BY search_token_owner") == 2  # both criteria probe
    assert "SELECT MAX(x.high) FROM search_date x" in check.sql  # the sort value
    assert check.params[1:3] == (5, 9)
    assert "INDEXED" not in check_query(query, [5], hints=False).sql.replace("NOT INDEXED", "")


def test_a_row_counts_once_and_only_where_it_holds_the_sort_value() -> None:
    rows = [(1, "a"), (2, "a"), (3, "b"), (1, "c"), (4, "c"), (2, "d")]
    matches = {1: "a", 2: "d", 3: "b", 4: "c"}  # 2's sort value is on a later row
    assert held(rows, matches) == [(1, "a"), (3, "b"), (4, "c"), (2, "d")]
    assert held(rows, {3: "b"}) == [(3, "b")]  # the others do not match


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), max_size=30))
def test_held_rows_keep_the_index_order(rows: list[tuple[int, int]]) -> None:
    matches = {key: value for key, value in reversed(rows) if key % 2 == 0}
    result = held(rows, matches)
    assert result == sorted(result, key=rows.index)  # in the order of the rows
    assert len({key for key, _ in result}) == len(result)
    assert all(matches[key] == value for key, value in result)
    # Every match whose sort value is on some row is found.
    assert {key for key, _ in result} == {k for k, v in matches.items() if (k, v) in rows}
