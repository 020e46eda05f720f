"""Sorted pages read along the sort key's own index.

A sorted page computes every match's sort value before it can cut the page: the first page
of `Observation?status=final&_sort=-date` computed 480,000 of them at a million resources
(seconds on PostgreSQL, minutes with a cold cache). A page with one sort key whose values
have a lookup index is read in bounded steps instead (`storage.sql.searching`):

1. `rows_query`: the next rows of the sort key's index in page order, a chunk at a time;
   `check_query`: which of their resources match, and with what sort value. Chunks are read
   until `limit` matches are found whose sort value their row holds (a resource's other
   rows come later), or a bounded number of rows have been read. The last match's sort value
   is where the page ends at the latest.
2. `rows_query` again, for the resources with a row of that very value, in key order (ties
   are ordered by key, which the index does not follow), and `check_query` on them, until
   `limit` matches are found.
3. The page among the resources of steps 1 and 2, with the usual sort and paging
   (`plan.page_query` driven by `keys_driver`).

Step 3 is the page that fetching every match gives: the index is read in order, so every
match with a sort value before the last one was among its rows, and the page can hold no
more than `limit` matches of the last value, the first in key order.

With further sort keys (`_sort=family,given`), ties are ordered by those keys, not by key:
step 2 reads every match of the last value (`tie_query`), and of the cursor's own value too
(the page may start inside its ties), and step 1 reads from after that value. A tie of more
than a window's rows is not read that way (`searching` falls back to computing every
value).

Every statement is a read of one index in its own order, or a test of a list of keys: the
databases cannot plan them otherwise. (One statement doing both let PostgreSQL, misjudging
how many rows pass, test every row of a range before sorting them: 150 ms instead of 5.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tsunagu.search.plan import (
    Cursor,
    KeySet,
    cursor_fits,
    probe,
    select,
    single_row_code,
    sort_expression,
)
from tsunagu.search.query import SearchQuery
from tsunagu.search.sql import Fragment, join, one_of

# Parameter types whose sort value has a lookup index on (resource_type, param, column):
# the table, the column of an ascending sort (MIN) and of a descending one (MAX, None when
# that column has no index). Codes, URIs and references are left out: a few values are
# shared by most resources, so a page's matches would mostly tie, and ties are read in key
# order a chunk at a time.
_INDEXED = {
    "date": ("search_date", "low", "high"),
    "string": ("search_string", "norm", "norm"),
    "number": ("search_number", "low", None),
    "quantity": ("search_quantity", "low", None),
}


@dataclass(frozen=True)
class SortWalk:
    """The index a sorted page may walk: `table.column` of row code `code` (None: the
    column of `resources` itself, `_lastUpdated`) for resources of one type."""

    table: str
    column: str
    code: str | None
    resource_type: str
    descending: bool
    alone: bool = True  # the only sort key: ties are ordered by key


def sort_walk(query: SearchQuery, cursor: Cursor | None) -> SortWalk | None:
    """How a sorted page may walk its first sort key's index, or None: a first sort key with
    an indexed column (see `_INDEXED`, and `_lastUpdated`), one resource type, no compartment
    (a patient's own resources are few), and not a page among the matches without a value
    (which sort last, and are not in the index)."""
    if not query.sort or query.compartment is not None or len(query.resource_types) != 1:
        return None
    if cursor is not None and (not cursor_fits(query.sort, cursor) or cursor.values[0] is None):
        return None  # another search's cursor is refused by `plan.page_condition`
    key = query.sort[0]
    rtype = query.resource_types[0]
    alone = len(query.sort) == 1
    if key.param.code == "_lastUpdated":
        return SortWalk("resources", "last_updated", None, rtype, key.descending, alone)
    columns = _INDEXED.get(key.param.type)
    code = single_row_code(key.param)
    if columns is None or key.param.components or code is None:
        return None
    table, ascending, descending = columns
    column = descending if key.descending else ascending
    if column is None:
        return None
    return SortWalk(table, column, code, rtype, key.descending, alone)


def _downwards(walk: SortWalk, cursor: Cursor | None) -> bool:
    """Whether the page reads the sort values from high to low."""
    return walk.descending != (cursor is not None and cursor.backwards)


def rows_query(
    walk: SortWalk, cursor: Cursor | None, *, offset: int = 0, size: int, tie: Any = None
) -> Fragment:
    """(res_key, value) of index rows of the sort key after the cursor, in page order: the
    `size` rows from the `offset`-th; with `tie`, the rows of that value, in key order.

    With further sort keys, the rows after the cursor's value (its ties are read whole, by
    `tie_query`)."""
    column = f"x.{walk.column}"
    backwards = cursor is not None and cursor.backwards
    rows = [Fragment("x.resource_type = ?", (walk.resource_type,))]
    if walk.code is not None:
        rows.append(Fragment("x.param = ?", (walk.code,)))
    if tie is not None:
        rows.append(Fragment(f"{column} = ?", (tie,)))
        order = f"x.res_key {'DESC' if backwards else 'ASC'}"
    else:
        order = f"{column} {'DESC' if _downwards(walk, cursor) else 'ASC'}"
    if cursor is not None and walk.alone:
        down = _downwards(walk, cursor)
        value = cursor.values[0]
        rows.append(Fragment(f"{column} {'<=' if down else '>='} ?", (value,)))
        rows.append(
            Fragment(
                f"({column} {'<' if down else '>'} ? OR x.res_key {'<' if backwards else '>'} ?)",
                (value, cursor.res_key),
            )
        )
    elif cursor is not None:
        down = _downwards(walk, cursor)
        rows.append(Fragment(f"{column} {'<' if down else '>'} ?", (cursor.values[0],)))
    where = join(rows, "AND")
    return Fragment(
        f"SELECT x.res_key, {column} FROM {walk.table} x WHERE {where.sql}"
        f" ORDER BY {order} LIMIT ? OFFSET ?",
        (*where.params, size, offset),
    )


def tie_query(walk: SortWalk, value: Any, bound: int) -> Fragment:
    """(res_key, value) of the index rows of one value, at most `bound` of them, in no
    order: a tie that further sort keys order is read whole."""
    rows = [Fragment("x.resource_type = ?", (walk.resource_type,))]
    if walk.code is not None:
        rows.append(Fragment("x.param = ?", (walk.code,)))
    rows.append(Fragment(f"x.{walk.column} = ?", (value,)))
    where = join(rows, "AND")
    return Fragment(
        f"SELECT x.res_key, x.{walk.column} FROM {walk.table} x WHERE {where.sql} LIMIT ?",
        (*where.params, bound),
    )


def check_query(query: SearchQuery, keys: Sequence[int], *, hints: bool) -> Fragment:
    """(res_key, sort value) of the resources among `keys` that match the query. With
    `hints`, SQLite reads `resources` by key and probes the criteria's owner indexes."""
    selection = select(query, hints=hints)
    checks = [one_of("r.res_key", keys)]
    if selection.driver is not None:
        checks.append(probe(selection.driver, "r", hints))
    checks.append(selection.condition)
    where = join(checks, "AND")
    value = sort_expression(query.sort[0])
    return Fragment(
        f"SELECT r.res_key, {value.sql} FROM resources r{' NOT INDEXED' if hints else ''}"
        f" WHERE {where.sql}",
        (*value.params, *where.params),
    )


def held(rows: Sequence[Any], matches: dict[int, Any]) -> list[tuple[int, Any]]:
    """Of index rows (res_key, value) in page order, those of matches (res_key -> sort
    value) whose sort value the row holds, each match once."""
    seen: set[int] = set()
    result = []
    for res_key, value in rows:
        key = int(res_key)
        if key in matches and matches[key] == value and key not in seen:
            seen.add(key)
            result.append((key, value))
    return result


def keys_driver(walk: SortWalk, keys: set[int]) -> KeySet:
    """Step 3's driver: the resources steps 1 and 2 found."""
    keyed = one_of("z.res_key", sorted(keys))
    # Untyped: step 1 tested the type, and a type test leads SQLite to read the type's keys.
    return KeySet("resources z", "z", (walk.resource_type,), keyed, rank=-1, typed=False)
