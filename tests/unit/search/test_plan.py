"""The SQL a search plans (no database): long lists as one parameter, the compartment test,
and the shape of the `$everything` statement."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.fhir.definitions import load_definitions
from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.params import date as date_param
from tsunagu.search.plan import (
    Cursor,
    common_query,
    count_query,
    membership,
    page_query,
    select,
    walk_driver,
)
from tsunagu.search.query import Compartment, SearchQuery, parse
from tsunagu.search.sql import FALSE, LONG_LIST, ValueList, one_of


@pytest.fixture(scope="module")
def registry() -> SearchRegistry:
    return SearchRegistry(load_definitions())


def _everything(registry: SearchRegistry, *, owner_checked: bool = False) -> SearchQuery:
    members = registry.definitions.compartments["Patient"]
    types = sorted({t for t, params in members.items() if params} | {"Patient"})
    params = tuple((t, tuple(p for p in members.get(t, ()) if p != "{def}")) for t in types)
    query = parse(registry, types, [("_count", "100")])
    compartment = Compartment("Patient", "p1", params, True, owner_checked)
    return replace(query, compartment=compartment)


@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3 * LONG_LIST))
def test_one_of_keeps_short_lists_inline_and_passes_long_ones_whole(values: list[str]) -> None:
    fragment = one_of("x.code", values)
    if len(values) <= LONG_LIST:
        assert fragment.params == tuple(values)
        assert fragment.sql.count("?") == len(values)
    else:
        assert fragment.sql == "x.code IN (?)"
        assert fragment.params == (ValueList(tuple(values)),)


def test_one_of_nothing_is_false() -> None:
    assert one_of("x.code", []) == FALSE


def test_membership_of_one_type_can_use_the_type_and_param_index() -> None:
    fragment = membership([("Observation", ("subject", "performer"))], "c")
    assert fragment.sql == "c.resource_type = ? AND c.param IN (?, ?)"
    assert fragment.params == ("Observation", "subject", "performer")


def test_membership_of_many_types_is_one_list_of_type_param_pairs() -> None:
    fragment = membership([("A", ("x",)), ("B", ()), ("C", ("y", "z"))], "c")
    # The literal type test lets both databases use the partial target index (migration 10).
    assert fragment.sql == (
        "(c.resource_type <> 'AuditEvent') AND ((c.resource_type || ' ' || c.param) IN (?, ?, ?))"
    )
    assert fragment.params == ("A x", "C y", "C z")
    assert membership([("B", ())], "c") == FALSE


def test_membership_finds_audit_events_by_type_and_param() -> None:
    fragment = membership([("A", ("x",)), ("AuditEvent", ("entity", "agent"))], "c")
    assert fragment.sql == (
        "((c.resource_type <> 'AuditEvent') AND ((c.resource_type || ' ' || c.param) IN (?)))"
        " OR ((c.resource_type = ?) AND (c.param IN (?, ?)))"
    )
    assert fragment.params == ("A x", "AuditEvent", "entity", "agent")


def test_everything_is_a_short_statement_with_few_parameters(registry: SearchRegistry) -> None:
    query = _everything(registry)
    first = page_query(query, None, 101)
    # Under psycopg's limits for caching a statement's conversion (4096 bytes, 50 values).
    assert len(first.sql) < 4096
    assert len(first.params) < 20
    assert sum(isinstance(p, ValueList) for p in first.params) == 1
    # The compartment test names the types: no type list on the rows or the resources.
    assert "resource_type IN" not in first.sql
    later = page_query(query, Cursor((), 42), 101)
    assert len(later.sql) < 4096
    assert 42 in later.params


def test_contents_are_joined_after_the_page_is_cut(registry: SearchRegistry) -> None:
    sql = page_query(_everything(registry), None, 101).sql
    limit = sql.index("LIMIT ?")
    assert limit < sql.index("JOIN resource_history h")
    assert sql.endswith("ORDER BY q.res_key ASC")


def test_a_checked_owner_is_one_uncorrelated_exists(registry: SearchRegistry) -> None:
    plain = select(_everything(registry))
    checked = select(_everything(registry, owner_checked=True))
    assert "EXISTS" not in plain.condition.sql
    assert "EXISTS (SELECT 1 FROM resources w" in checked.condition.sql
    assert checked.condition.params[-3:] == ("Patient", "p1", False)
    assert count_query(_everything(registry, owner_checked=True)).params[-3:] == (
        "Patient",
        "p1",
        False,
    )


def test_a_query_without_a_driver_still_tests_the_type(registry: SearchRegistry) -> None:
    query = parse(registry, ["Patient"], [("_id", "p1,p2")])
    selection = select(query)
    assert selection.driver is None
    assert "r.resource_type IN (?)" in selection.condition.sql


def test_last_updated_drives_from_the_type_and_time_index(registry: SearchRegistry) -> None:
    """`_lastUpdated=ge{an hour ago}` as a test only: PostgreSQL walked every resource."""
    query = parse(registry, ["Patient"], [("_lastUpdated", "ge2024-01-01")])
    driver = select(query).driver
    assert driver is not None
    assert driver.select.sql == (
        "SELECT u1.res_key FROM resources u1 WHERE u1.resource_type IN (?) AND u1.last_updated >= ?"
    )
    # Behind another criterion, a check by primary key (`resources` has no owner index).
    coded = parse(registry, ["Patient"], [("gender", "male"), ("_lastUpdated", "ge2024-01-01")])
    condition = select(coded, hints=True).condition.sql
    assert "EXISTS (SELECT 1 FROM resources u2 WHERE u2.res_key = r.res_key" in condition
    assert "INDEXED BY resources" not in condition


def test_a_driver_of_the_searched_types_makes_the_type_test_redundant(
    registry: SearchRegistry,
) -> None:
    query = parse(registry, ["Observation"], [("subject", "Patient/p1")])
    selection = select(query)
    assert selection.driver is not None
    assert selection.driver.yields == {"Observation"}
    assert "r.resource_type" not in selection.condition.sql
    assert "s1.resource_type IN (?)" in selection.driver.select.sql


def test_or_ed_values_drive_as_a_union_of_index_ranges(registry: SearchRegistry) -> None:
    days = ["1975-03-01", "1957-03-01", "1975-01-03"]
    query = parse(registry, ["Patient"], [("birthdate", ",".join(days))])
    driver = select(query).driver
    assert driver is not None
    assert driver.select.sql.count(" UNION ") == len(days) - 1
    single = parse(registry, ["Patient"], [("birthdate", days[0])])
    assert " UNION " not in page_query(single, None, 11).sql
    many = parse(registry, ["Patient"], [("birthdate", ",".join(["1975-03-01"] * 33))])
    assert " UNION " not in page_query(many, None, 11).sql  # past the limit: one OR


def test_a_birthdate_drives_a_name_and_birthdate_search(registry: SearchRegistry) -> None:
    def driver_table(pairs: list[tuple[str, str]]) -> str:
        driver = select(parse(registry, ["Patient"], pairs)).driver
        assert driver is not None
        return driver.tables.split()[0]

    assert driver_table([("name", "ヤマダ"), ("birthdate", "1975-03-01")]) == "search_date"
    assert driver_table([("name", "ヤマダ"), ("birthdate", "1975")]) == "search_string"
    assert driver_table([("name", "ヤマダ"), ("birthdate", "ge1975-03-01")]) == "search_string"


def test_a_walk_driver_is_a_shared_value_of_one_index_table(registry: SearchRegistry) -> None:
    def driver(pairs: list[tuple[str, str]], types: tuple[str, ...] = ("Patient",)) -> bool:
        return walk_driver(parse(registry, list(types), pairs)) is not None

    assert driver([("gender", "male")])
    assert driver([("name", "サトウ")])
    assert driver([("code", "8867-4")], ("Observation",))
    assert not driver([("gender", "male"), ("_sort", "birthdate")])  # reads every match anyway
    assert not driver([("identifier", "s|1"), ("gender", "male")])  # picks out one
    assert not driver([("subject", "Patient/p1"), ("code", "c")], ("Observation",))
    assert not driver([("subject:Patient.gender", "male")], ("Observation",))  # a chain
    assert driver([("_lastUpdated", "ge2024-01-01")])  # the (type, last_updated) index
    assert walk_driver(_everything(registry)) is None


def test_a_window_page_tests_each_resource_of_the_window(registry: SearchRegistry) -> None:
    query = parse(registry, ["Patient"], [("name", "サトウ")])
    plain = page_query(query, None, 11, window=(10, 20))
    assert "FROM resources r WHERE (r.res_key > ? AND r.res_key <= ?)" in plain.sql
    assert "SELECT DISTINCT" not in plain.sql
    assert "INDEXED" not in plain.sql
    hinted = page_query(query, None, 11, window=(10, 20), hints=True)
    assert "resources r NOT INDEXED" in hinted.sql
    assert "search_string s1 INDEXED BY search_string_owner" in hinted.sql
    assert hinted.params == plain.params
    assert plain.params[:2] == (10, 20)
    with pytest.raises(ValueError, match="walk driver"):
        page_query(parse(registry, ["Patient"], [("_id", "a")]), None, 11, window=(0, 1))


def test_a_common_value_is_counted_up_to_a_bound(registry: SearchRegistry) -> None:
    driver = walk_driver(parse(registry, ["Patient"], [("name", "サトウ,スズキ")]))
    assert driver is not None
    count = common_query(driver, 1000)
    assert " UNION ALL " in count.sql
    assert count.sql.endswith("LIMIT ?) k")
    assert count.params[-1] == 1000
    assert "SELECT 1 FROM search_string s" in count.sql  # no key: the index covers it
    assert "res_key" not in count.sql


def test_a_lower_and_an_upper_date_bound_drive_as_one_overlap(registry: SearchRegistry) -> None:
    def drivers(pairs: list[tuple[str, str]]) -> list[str]:
        selection = select(parse(registry, ["Observation"], pairs))
        keys = [k for k in (selection.driver, *selection.others) if k is not None]
        return [k.tables for k in keys]

    day = [("date", "ge2024-06-01"), ("date", "lt2024-06-02")]
    assert drivers(day)[0] == "search_date w"  # a day ranks like a birthdate
    assert drivers([("code", "8867-4"), *day])[:2] == ["search_token s1", "search_date w"]
    month = [("date", "ge2024-06-01"), ("date", "lt2024-07-01")]
    assert drivers(month)[0] == "search_date w"  # wider: still before either bound alone
    assert "search_date w" not in drivers([("date", "ge2024-06-01")])  # one bound only
    assert "search_date w" not in drivers([("date", "ge2024-06-01"), ("date", "ge2024-06-02")])
    assert "search_date w" not in drivers([("date", "ge2024-06-01,ge2024-07-01"), day[1]])
    # The tightest bounds of each side.
    query = parse(registry, ["Observation"], [*day, ("date", "gt2024-06-01T12:00:00+09:00")])
    driver = select(query).driver
    assert driver is not None
    narrow, wide = driver.arms
    assert "{wide_range}" in wide.sql
    assert "{wide_range}" not in narrow.sql
    # Counted from the indexes of `low` alone (a few more rows than match).
    count = common_query(driver, 1000)
    assert "w.high" not in count.sql
    assert count.sql.count("{wide_range}") == 1
    # After 12:00:00 JST (the end of that second), before 2 June JST; from a day (and a
    # second) before that start.
    assert narrow.params[-3:] == (
        datetime(2024, 5, 31, 3, 0, tzinfo=UTC),
        datetime(2024, 6, 1, 15, 0, tzinfo=UTC),
        datetime(2024, 6, 1, 3, 0, 1, tzinfo=UTC),
    )


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 1, 1)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)
def test_a_range_of_a_day_or_less_that_overlaps_starts_in_the_narrow_arm(
    high: datetime, span: timedelta
) -> None:
    """Whatever `after`, a stored range [low, high) of a day or less with `high > after`
    has `low` past the narrow arm's lower bound; a wider one may not (the wide arm's)."""
    high = high.replace(tzinfo=UTC)
    low = max(high - span, date_param.BEGINNING)
    after = high - timedelta(microseconds=1)  # the latest `after` it still overlaps
    narrow, _ = date_param.overlapping(after, high + timedelta(days=1))
    bound = narrow.params[0]
    if span <= date_param.WIDE:
        assert low > bound or low == date_param.BEGINNING
    elif span > date_param.WIDE + timedelta(seconds=1):
        assert low < bound
