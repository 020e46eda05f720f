"""`Dialect.insert_statements` and `execute_all` on both databases: the rows read back as
written, whatever the text; a replace key replaces; statements run together are one unit."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsunagu.storage.sql.dialect import Dialect, insert_rows
from tsunagu.storage.sql.repository import SqlRepository

COLUMNS = ("k", "label", "at", "amount", "flag")
INTEGRITY = (sqlite3.IntegrityError, psycopg.errors.IntegrityError)
AT = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC)


@pytest.fixture
def dialect(repo: SqlRepository) -> Dialect:
    d = repo.dialect
    with d.writer() as conn:
        conn.execute(
            d.sql(
                "CREATE TABLE t (k BIGINT PRIMARY KEY, label {text}, at {ts},"
                " amount {float} NOT NULL, flag {bool})"
            )
        )
    return d


def _rows(d: Dialect) -> list[tuple[Any, ...]]:
    with d.reader() as conn:
        found = conn.execute("SELECT k, label, at, amount, flag FROM t ORDER BY k").fetchall()
    return [
        (int(k), label, None if at is None else d.decode_time(at), float(amount), flag)
        for k, label, at, amount, flag in found
    ]


def _encoded(d: Dialect, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(k, s, None if at is None else d.encode_time(at), x, f) for k, s, at, x, f in rows]


def _flag(d: Dialect, flag: bool | None) -> Any:
    """Booleans as the database gives them back (SQLite: integers)."""
    return flag if flag is None or d.name == "postgresql" else int(flag)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    labels=st.lists(
        st.none() | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
        min_size=1,
        max_size=30,
    ),
    amount=st.floats(allow_nan=False, allow_infinity=False),
    shift=st.integers(min_value=-(10**6), max_value=10**6),
)
def test_rows_read_back_as_written(
    dialect: Dialect, labels: list[str | None], amount: float, shift: int
) -> None:
    d = dialect
    rows = [
        (n, label, AT + timedelta(microseconds=shift * n) if n % 3 else None, amount, n % 2 == 0)
        for n, label in enumerate(labels)
    ]
    with d.writer() as conn:
        conn.execute("DELETE FROM t")
        insert_rows(d, conn, "t", COLUMNS, _encoded(d, rows))
    assert _rows(d) == [(k, s, at, x, _flag(d, f)) for k, s, at, x, f in rows]


def test_a_replace_key_replaces_the_row_and_keeps_the_others(dialect: Dialect) -> None:
    d = dialect
    first = [(1, "一", AT, 1.5, True), (2, "二", None, 2.5, False)]
    with d.writer() as conn:
        insert_rows(d, conn, "t", COLUMNS, _encoded(d, first))
    with d.writer() as conn:
        replacement = _encoded(d, [(2, "弐", AT, 0.25, None)])
        insert_rows(d, conn, "t", COLUMNS, replacement, replace_key="k")
    assert _rows(d) == [(1, "一", AT, 1.5, _flag(d, True)), (2, "弐", AT, 0.25, None)]
    # Without a replace key, a taken key is an error, as for any INSERT.
    with pytest.raises(INTEGRITY) as error, d.writer() as conn:
        insert_rows(d, conn, "t", COLUMNS, _encoded(d, [(1, "x", None, 0.0, None)]))
    assert d.is_unique_violation(error.value)


def test_statements_run_together_fail_together(dialect: Dialect) -> None:
    d = dialect
    with d.writer() as conn:
        insert_rows(d, conn, "t", COLUMNS, _encoded(d, [(1, "a", None, 1.0, None)]))
    with pytest.raises(INTEGRITY), d.writer() as conn:
        d.execute_all(
            conn,
            [
                (d.sql("DELETE FROM t WHERE k = ?"), (1,)),
                *d.insert_statements(conn, "t", COLUMNS, [(2, "b", None, 2.0, None)]),
                *d.insert_statements(conn, "t", COLUMNS, [(3, "c", None, None, None)]),  # NOT NULL
            ],
        )
    assert _rows(d) == [(1, "a", None, 1.0, None)]
    with d.writer() as conn:
        d.execute_all(
            conn,
            [
                (d.sql("DELETE FROM t WHERE k = ?"), (1,)),
                *d.insert_statements(conn, "t", COLUMNS, [(2, "b", None, 2.0, None)]),
            ],
        )
    assert _rows(d) == [(2, "b", None, 2.0, None)]
