"""How a search statement's list parameters reach each database (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.search.sql import Fragment, ValueList, one_of
from tsunagu.storage.sql.searching import spread


class _Dialect:
    """The two things `spread` asks of a dialect: its name and how it encodes times."""

    def __init__(self, name: str) -> None:
        self.name = name

    def encode_time(self, value: datetime) -> str:
        return value.isoformat()


SQLITE: Any = _Dialect("sqlite")
POSTGRES: Any = _Dialect("postgresql")
WHEN = datetime(2024, 4, 1, tzinfo=UTC)


def test_statements_without_lists_only_encode_times() -> None:
    fragment = Fragment("a = ? AND b IN (?, ?)", (WHEN, "x", 1))
    for dialect in (SQLITE, POSTGRES):
        assert spread(dialect, fragment) == (fragment.sql, [WHEN.isoformat(), "x", 1])


def test_postgresql_takes_a_list_as_one_array() -> None:
    fragment = Fragment("a = ? AND b IN (?) AND c = ?", ("x", ValueList(("p", WHEN)), 2))
    assert spread(POSTGRES, fragment) == (
        "a = ? AND b = ANY(?) AND c = ?",
        ["x", ["p", WHEN.isoformat()], 2],
    )


def test_sqlite_spreads_a_list_over_placeholders() -> None:
    fragment = Fragment("a = ? AND b IN (?) AND c = ?", ("x", ValueList(("p", WHEN)), 2))
    assert spread(SQLITE, fragment) == (
        "a = ? AND b IN (?, ?) AND c = ?",
        ["x", "p", WHEN.isoformat(), 2],
    )


@given(
    st.lists(
        st.one_of(st.integers(), st.lists(st.text(max_size=4), min_size=1, max_size=20)),
        max_size=6,
    )
)
def test_every_value_lands_once_in_order(items: list[int | list[str]]) -> None:
    parts = [
        one_of(f"c{i}", item) if isinstance(item, list) else Fragment(f"c{i} = ?", (item,))
        for i, item in enumerate(items)
    ]
    fragment = Fragment(
        " AND ".join(p.sql for p in parts) or "1 = 1",
        tuple(v for p in parts for v in p.params),
    )
    flat = [v for item in items for v in (item if isinstance(item, list) else [item])]
    sql, params = spread(SQLITE, fragment)
    assert params == flat
    assert sql.count("?") == len(flat)
    sql, params = spread(POSTGRES, fragment)
    assert sql.count("?") == len(params) == len(fragment.params)
    assert [v for p in params for v in _elements(p)] == flat


def _elements(param: Any) -> list[Any]:
    """The values a PostgreSQL parameter stands for: itself, or an array literal's elements
    (`{"a","b\\"c"}`, as `spread` writes lists of strings)."""
    if not (isinstance(param, str) and param.startswith('{"')):
        return param if isinstance(param, list) else [param]
    values, current, escaped, quoted = [], [], False, False
    for ch in param[1:-1]:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            values.append("".join(current))
            current = []
        else:
            current.append(ch)
    values.append("".join(current))
    return values


def test_postgresql_writes_strings_and_integers_as_one_array_literal() -> None:
    texts = Fragment("b IN (?)", (ValueList(('a"b', "c\\d", "e,f")),))
    assert spread(POSTGRES, texts) == ("b = ANY(CAST(? AS text[]))", ['{"a\\"b","c\\\\d","e,f"}'])
    numbers = Fragment("k IN (?)", (ValueList((3, -1, 2**40)),))
    assert spread(POSTGRES, numbers) == ("k = ANY(CAST(? AS bigint[]))", ["{3,-1,1099511627776}"])


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
def test_a_list_outside_in_is_refused(dialect: Any) -> None:
    with pytest.raises(ValueError, match="IN"):
        spread(dialect, Fragment("a = ?", (ValueList(("x",)),)))
    with pytest.raises(ValueError, match="IN"):
        spread(dialect, Fragment("a NOT IN (?)", (ValueList(("x",)),)))
    with pytest.raises(ValueError, match="placeholders"):
        spread(dialect, Fragment("a IN (?) AND b = ?", (ValueList(("x",)),)))
