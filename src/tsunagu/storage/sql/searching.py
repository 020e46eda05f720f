"""Running searches: a page of matches, counts, and `_include` / `_revinclude`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from tsunagu.search import sorted_pages
from tsunagu.search.plan import (
    AUDIT_TYPE,
    Cursor,
    KeySet,
    access_condition,
    common_query,
    count_query,
    not_audit,
    page_query,
    param_rows,
    select,
    walk_driver,
    walkable,
    window_end_query,
)
from tsunagu.search.query import AccessFilter, Include, SearchQuery
from tsunagu.search.sql import Fragment, ValueList, one_of
from tsunagu.storage.access import PATIENT, SEVERAL
from tsunagu.storage.repository import Match, StoredResource
from tsunagu.storage.sql.dialect import Connection, Dialect, stored_body

MAX_INCLUDED = 1000  # per page and include, so one request cannot pull the whole database


def execute(d: Dialect, conn: Connection, fragment: Fragment) -> list[Any]:
    """Run a search fragment, encoding its parameters for the dialect."""
    sql, params = spread(d, fragment)
    return conn.execute(d.sql(sql), params).fetchall()


def spread(d: Dialect, fragment: Fragment) -> tuple[str, list[Any]]:
    """The statement and parameters as the dialect takes them: times encoded, and each
    `ValueList` passed as one array (PostgreSQL, `= ANY(?)`) or spread over placeholders."""
    if not any(isinstance(p, ValueList) for p in fragment.params):
        return fragment.sql, [_encode(d, p) for p in fragment.params]
    pieces = fragment.sql.split("?")
    if len(pieces) != len(fragment.params) + 1:
        raise ValueError("a search statement's placeholders and parameters do not match")
    sql = [pieces[0]]
    params: list[Any] = []
    for value, piece in zip(fragment.params, pieces[1:], strict=True):
        if not isinstance(value, ValueList):
            sql += ["?", piece]
            params.append(_encode(d, value))
            continue
        before = sql[-1]
        if not before.endswith(" IN (") or before.endswith(" NOT IN (") or piece[:1] != ")":
            raise ValueError("a list parameter must stand alone in IN (?)")
        if d.name == "postgresql":
            sql[-1] = before.removesuffix(" IN (") + " = ANY("
            literal = _array_literal(value.values)
            if literal is None:
                sql += ["?", piece]
                params.append([_encode(d, v) for v in value.values])
            else:
                sql += [f"CAST(? AS {literal[0]})", piece]
                params.append(literal[1])
        else:
            sql += [", ".join("?" for _ in value.values), piece]
            params += [_encode(d, v) for v in value.values]
    return "".join(sql), params


@lru_cache(maxsize=256)
def _array_literal(values: tuple[Any, ...]) -> tuple[str, str] | None:
    """A list of only strings or only integers as PostgreSQL's array text (`{"a","b"}`) and
    its type: one text parameter, where psycopg adapts a Python list element by element
    (about half a millisecond for the hundred (type, param) pairs of `$everything`). Kept
    for lists that come again: the compartment's pairs are the same for every patient."""
    if all(isinstance(v, str) for v in values):
        quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        return "text[]", "{" + ",".join(f'"{v}"' for v in quoted) + "}"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "bigint[]", "{" + ",".join(str(v) for v in values) + "}"
    return None


def _encode(d: Dialect, value: Any) -> Any:
    return d.encode_time(value) if isinstance(value, datetime) else value


# A page of a value with at least this many keys walks `resources` in key order (see
# `plan.walk_driver`), this many resources (of any type) at first, and in all at most
# `WALK_GROWTH` times as many, before it falls back to fetching the keys of the rest. Both
# bound the extra work a walk that finds little can add (counting up to 1,000 keys and
# testing 8,000 resources: about 1-3 ms), while a value that one resource in 20 of a
# window has fills a page of 50.
WALK_COMMON = 1_000
WALK_WINDOW = 8_000
WALK_GROWTH = 4


def search(d: Dialect, conn: Connection, query: SearchQuery, cursor: Cursor | None) -> list[Match]:
    limit = query.count + 1
    rows = _walked(d, conn, query, cursor, limit)
    if rows is None:
        rows = _sort_walked(d, conn, query, cursor, limit)
    if rows is None:
        rows = execute(d, conn, page_query(query, cursor, limit))
    # In fetch order: nearest to the cursor first (so backwards pages come reversed).
    return [_match(d, row, len(query.sort)) for row in rows]


def _walked(
    d: Dialect, conn: Connection, query: SearchQuery, cursor: Cursor | None, limit: int
) -> list[Any] | None:
    """A page of a common value read by walking `resources` in key order: the next
    `WALK_WINDOW` resources (the previous ones, for a backwards cursor) are tested one by
    one; if the page is not full by then, and the matches found so far say that a window of
    the walk's remaining budget fills it, the walk goes on; otherwise the keys beyond are
    fetched as usual. None: not such a page.

    Bounded either way, where letting the planner walk is not: values cluster (AuditEvents
    all come after the clinical data, `in-progress` Encounters are the recent ones), and a
    walk the planner thinks short can read the whole table."""
    driver = walk_driver(query)
    if driver is None or not _common(d, conn, driver):
        return None
    rarer = _rarer(d, conn, query)
    if rarer is not None:
        return execute(d, conn, page_query(query, cursor, limit, driver=rarer))
    backwards = cursor is not None and cursor.backwards
    hints = d.name == "sqlite"
    position = 0 if cursor is None else cursor.res_key
    rows: list[Any] = []
    size: int | None = WALK_WINDOW
    walked = 0
    while size is not None:
        ends = execute(d, conn, window_end_query(position, size, backwards=backwards))
        end = int(ends[0][0]) if ends else None
        # Keys in (after, up to]: integers, so [end, position) backwards is (end - 1, position - 1].
        if backwards:
            window = (0 if end is None else end - 1, position - 1)
        else:
            window = (position, _LAST_KEY if end is None else end)
        wanted = limit - len(rows)
        rows += execute(d, conn, page_query(query, cursor, wanted, window=window, hints=hints))
        if len(rows) >= limit or end is None:
            return rows
        walked += size
        size = _next_window(len(rows), limit, walked)
        position = end  # the next window starts where this one ended
    beyond = Cursor((), position, backwards)
    return rows + _fetched(d, conn, query, beyond, limit - len(rows))


def _next_window(found: int, limit: int, walked: int) -> int | None:
    """How many resources to walk next, when `walked` resources gave `found` matches of a
    page of `limit`: half as many again as the density found so far says would fill the
    page, if that stays within the walk's budget; None: fetch the rest instead (nothing
    found: the value may cluster elsewhere)."""
    if found == 0:
        return None
    size = -(-(limit - found) * walked * 3 // (2 * found))  # ceiling
    return size if walked + size <= WALK_GROWTH * WALK_WINDOW else None


_LAST_KEY = 2**63 - 1


def _common(d: Dialect, conn: Connection, driver: KeySet) -> bool:
    """Whether the driver has at least `WALK_COMMON` keys (counted up to there)."""
    return _count(d, conn, driver, WALK_COMMON) >= WALK_COMMON


def _rarer(d: Dialect, conn: Connection, query: SearchQuery) -> KeySet | None:
    """Another criterion with fewer than `WALK_COMMON` keys, when the one the ranks chose is
    common: it drives instead. Ranks go by type, and a token may be a gender, a date a
    birthdate (`Patient?gender=female&birthdate=1950-01-01`: 1.2 s on PostgreSQL at a
    million resources, walking and then fetching 50,000 women, instead of a few
    milliseconds). Only criteria read from one index range are counted (a chain, `_has` or
    a `:contains` pattern could read far more than the count)."""
    for other in select(query).others:
        if walkable(other) and not other.scans and not _common(d, conn, other):
            return other
    return None


def _fetched(
    d: Dialect, conn: Connection, query: SearchQuery, cursor: Cursor | None, limit: int
) -> list[Any]:
    """A page of a common value that a walk did not fill, from every match of the criterion
    with the fewest rows (counted up to the walk's budget): `category=laboratory&date=ge…
    &date=lt…` a week later fetches the week's 1,900 rows, not 190,000 laboratory results
    (0.5 s at a million resources)."""
    selection = select(query)
    others = [k for k in selection.others if walkable(k) and not k.scans]
    driver = None
    if selection.driver is not None and others:
        fewest = _count(d, conn, selection.driver, WALK_GROWTH * WALK_WINDOW)
        for other in others:  # each counted only as far as it could still be fewer
            count = _count(d, conn, other, fewest)
            if count < fewest:
                driver, fewest = other, count
    return execute(d, conn, page_query(query, cursor, limit, driver=driver))


def _count(d: Dialect, conn: Connection, keys: KeySet, bound: int) -> int:
    """The key set's rows, counted up to `bound`."""
    return int(execute(d, conn, common_query(keys, bound))[0][0])


def _sort_walked(
    d: Dialect, conn: Connection, query: SearchQuery, cursor: Cursor | None, limit: int
) -> list[Any] | None:
    """A sorted page of a common value (or of no criterion) read along the first sort key's
    index (`search.sorted_pages`): the page's matches within the next `WALK_WINDOW` rows of
    the index, and those that tie with the last of them (with further sort keys, every one
    of them, and every match of the cursor's value); then the page among them. None: not
    such a page. A walk that finds too few matches (values that do not follow the sort
    order) or a tie too large to read computes every match's value instead (`_fetched`), at
    a few milliseconds more."""
    walk = sorted_pages.sort_walk(query, cursor)
    if walk is None:
        return None
    driver = select(query).driver
    if driver is not None and (not walkable(driver) or not _common(d, conn, driver)):
        return None  # a patient's own resources, say: few to sort
    if driver is not None and (rarer := _rarer(d, conn, query)) is not None:
        return execute(d, conn, page_query(query, cursor, limit, driver=rarer))  # few to sort
    hints = d.name == "sqlite"
    keys: set[int] = set()
    if cursor is not None and not walk.alone:  # the page may start inside the cursor's tie
        tied = _all_ties(d, conn, query, walk, cursor.values[0], hints)
        if tied is None:
            return _fetched(d, conn, query, cursor, limit)
        keys = tied
    found: list[tuple[int, Any]] = []
    offset, size = 0, 4 * limit
    while len(found) < limit and offset < WALK_WINDOW:
        rows = execute(d, conn, sorted_pages.rows_query(walk, cursor, offset=offset, size=size))
        found += _held(d, conn, query, rows, hints, {key for key, _ in found})
        if len(rows) < size:
            break
        offset, size = offset + size, 2 * size
    if len(found) < limit:
        return _fetched(d, conn, query, cursor, limit)
    last = found[limit - 1][1]
    keys.update(key for key, _ in found[:limit])
    if walk.alone:
        keys.update(_first_ties(d, conn, query, walk, cursor, last, limit, hints))
    else:
        tied = _all_ties(d, conn, query, walk, last, hints)
        if tied is None:
            return _fetched(d, conn, query, cursor, limit)
        keys.update(tied)
    driver = sorted_pages.keys_driver(walk, keys)
    return execute(d, conn, page_query(query, cursor, limit, driver=driver, hints=hints))


def _first_ties(
    d: Dialect,
    conn: Connection,
    query: SearchQuery,
    walk: sorted_pages.SortWalk,
    cursor: Cursor | None,
    value: Any,
    wanted: int,
    hints: bool,
) -> list[int]:
    """The first `wanted` matches (in key order) whose sort value is `value`, after the
    cursor."""
    keys: list[int] = []
    offset = 0
    while len(keys) < wanted:
        tie = sorted_pages.rows_query(walk, cursor, offset=offset, size=TIE_CHUNK, tie=value)
        rows = execute(d, conn, tie)
        keys += [key for key, _ in _held(d, conn, query, rows, hints, set(keys))]
        if len(rows) < TIE_CHUNK:
            break
        offset += TIE_CHUNK
    return keys[:wanted]


def _all_ties(
    d: Dialect,
    conn: Connection,
    query: SearchQuery,
    walk: sorted_pages.SortWalk,
    value: Any,
    hints: bool,
) -> set[int] | None:
    """Every match whose first sort value is `value` (further keys order them); None if
    they hold more than `WALK_WINDOW` rows of the index."""
    rows = execute(d, conn, sorted_pages.tie_query(walk, value, WALK_WINDOW + 1))
    if len(rows) > WALK_WINDOW:
        return None
    return {key for key, _ in _held(d, conn, query, rows, hints, set())}


def _held(
    d: Dialect, conn: Connection, query: SearchQuery, rows: list[Any], hints: bool, seen: set[int]
) -> list[tuple[int, Any]]:
    """Of a chunk of the sort key's index rows, those that hold a match's sort value (see
    `sorted_pages.held`), leaving out matches already `seen`."""
    keys = sorted({int(row[0]) for row in rows} - seen)
    if not keys:
        return []
    checked = execute(d, conn, sorted_pages.check_query(query, keys, hints=hints))
    return sorted_pages.held(rows, {int(key): value for key, value in checked})


# Resources that tie at a sorted page's last value are read this many at a time (in key
# order): a family name that thousands of patients share is read in chunks until the page
# is full.
TIE_CHUNK = 200


def count(d: Dialect, conn: Connection, query: SearchQuery) -> int:
    return int(execute(d, conn, count_query(query))[0][0])


_SELECT = (
    "SELECT r.res_key, r.resource_type, r.id, r.version, r.last_updated, h.method, h.content,"
    " acc.patient"
)


def include(
    d: Dialect,
    conn: Connection,
    matches: Sequence[Match],
    inc: Include,
    access: AccessFilter | None = None,
    audit_codes: Sequence[str] = (),
) -> list[Match]:
    """The resources an include adds (current, not deleted, visible under `access`), in key
    order. `audit_codes`: the `param` values of AuditEvents' reference rows, which a reverse
    include of any type, or of every AuditEvent reference, reads (see `include_queries`)."""
    rows: list[Any] = []
    for query in include_queries(matches, inc, access, audit_codes):
        rows += execute(d, conn, query)
    seen: set[int] = set()
    result: list[Match] = []
    for row in sorted(rows, key=lambda row: int(row[0])):
        if row[0] not in seen and len(result) < MAX_INCLUDED:
            seen.add(row[0])
            result.append(_match(d, row, 0))
    return result


def include_queries(
    matches: Sequence[Match],
    inc: Include,
    access: AccessFilter | None = None,
    audit_codes: Sequence[str] = (),
) -> list[Fragment]:
    """The statements of an include: one, or for `_revinclude=*` two, one for the
    AuditEvents that refer to the matches (their rows are not in the target index, migration
    10: they are found by type and parameter) and one for every other type."""
    if inc.reverse:  # the matches are the targets; any may be referred to
        sources = [m for m in matches if inc.target_type in (None, m.resource.resource_type)]
    else:
        sources = [m for m in matches if inc.source_type in ("*", m.resource.resource_type)]
    if not sources:
        return []
    if not inc.reverse:
        keys = one_of("s.res_key", [m.key for m in sources])
        if inc.target_type is not None:
            keys = keys & Fragment("s.target_type = ?", (inc.target_type,))
        join = "JOIN resources r ON r.resource_type = s.target_type AND r.id = s.target_id"
        return [_include_query(join, keys, inc, access)]
    # Resources of the source type whose reference points at one of the matches.
    pairs = Fragment(
        " OR ".join("(s.target_type = ? AND s.target_id = ?)" for _ in sources),
        tuple(v for m in sources for v in (m.resource.resource_type, m.resource.id)),
    )
    audit = Fragment("s.resource_type = ?", (AUDIT_TYPE,))
    if inc.param is None:
        audit = audit & one_of("s.param", audit_codes)
    if inc.source_type == "*":
        arms = [not_audit("s"), audit]
    elif inc.source_type == AUDIT_TYPE:
        arms = [audit]
    else:
        arms = [Fragment("s.resource_type = ?", (inc.source_type,)) & not_audit("s")]
    join = "JOIN resources r ON r.res_key = s.res_key"
    return [_include_query(join, pairs & arm, inc, access) for arm in arms]


def _include_query(
    join: str, rows: Fragment, inc: Include, access: AccessFilter | None
) -> Fragment:
    """The included resources reached from the reference rows `s` that `rows` picks."""
    if inc.param is not None:
        rows = rows & param_rows("s", inc.param)
    rows = rows & Fragment("r.deleted = ?", (False,))
    if access is not None:
        rows = rows & access_condition(access, "r")
    sql = (
        f"{_SELECT} FROM search_reference s {join} JOIN resource_history h ON h.seq = r.seq"
        " LEFT JOIN resource_access acc ON acc.res_key = r.res_key"
        f" WHERE {rows.sql} ORDER BY r.res_key LIMIT ?"
    )
    return Fragment(sql, (*rows.params, MAX_INCLUDED))


def visible(
    d: Dialect, conn: Connection, resource_type: str, id: str, access: AccessFilter
) -> bool:
    """Whether the current version of a resource exists, is not deleted, and passes `access`
    (the same predicate searches apply)."""
    condition = access_condition(access, "r")
    sql = (
        "SELECT 1 FROM resources r WHERE r.resource_type = ? AND r.id = ? AND r.deleted = ?"
        f" AND {condition.sql}"
    )
    return bool(execute(d, conn, Fragment(sql, (resource_type, id, False, *condition.params))))


def _match(d: Dialect, row: Any, sort_count: int) -> Match:
    """(res_key, type, id, version, last_updated, method, content, access patient, k*)."""
    body = stored_body(d, row[6])
    stored = StoredResource(row[1], row[2], int(row[3]), d.decode_time(row[4]), row[5], body)
    sort_values = tuple([_sort_value(d, v) for v in row[8 : 8 + sort_count]]) if sort_count else ()
    return Match(int(row[0]), stored, sort_values, _patients(row[1], row[7]))


def _patients(resource_type: str, patient: str | None) -> frozenset[str] | None:
    """The patients the access facts name alone: one patient of a resource other than a
    Patient (a Patient's compartment also holds its `link`ed Patients; several patients
    and none are told by the resource itself)."""
    if not patient or patient == SEVERAL or resource_type == PATIENT:  # "": in it, of no one
        return None
    return frozenset((patient,))


def _sort_value(d: Dialect, value: Any) -> Any:
    """Sort values as the cursor carries them: times as aware datetimes, others as is."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) >= 26 and value[4] == "-" and value[10] == "T":
        try:
            return d.decode_time(value)
        except ValueError:
            return value
    return value
