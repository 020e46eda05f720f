"""What differs between SQLite and PostgreSQL, as one small protocol.

`SqlRepository` writes its SQL once, with `?` placeholders and `{json}`/`{ts}`-style type
names; each dialect fills those in and converts values at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, ClassVar, Protocol

# A statement in the dialect's own placeholder style, and its parameters.
Statement = tuple[str, Sequence[Any]]


class Cursor(Protocol):
    """The part of a DB-API cursor the repository uses."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the repository uses."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...


class Dialect(Protocol):
    """A database: how to connect, lock, and convert values."""

    name: str
    # The column naming a row of any table (the index tables have no key of their own).
    row_id: str
    # Type names substituted into the schema DDL.
    types: ClassVar[dict[str, str]]

    def sql(self, text: str) -> str:
        """Adapt placeholder style and type names of a statement written for SQLite."""
        ...

    def reader(self) -> AbstractContextManager[Connection]:
        """A connection for reads of committed data."""
        ...

    def writer(self) -> AbstractContextManager[Connection]:
        """A connection inside a write transaction; commit on success, rollback on error."""
        ...

    def insert_statements(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        replace_key: str | None = None,
    ) -> list[Statement]:
        """Statements that insert the rows (values already encoded) as fast as the database
        allows; a row whose `replace_key` column is taken replaces the row there."""
        ...

    def execute_all(self, conn: Connection, statements: Sequence[Statement]) -> None:
        """Run data-changing statements whose results nobody reads, in as few round trips
        as the database allows."""
        ...

    def lock(self, conn: Connection, key: str) -> None:
        """Serialise concurrent write transactions on a logical key until commit."""
        ...

    def encode_time(self, value: datetime) -> Any: ...

    def decode_time(self, value: Any) -> datetime: ...

    def encode_json(self, value: dict[str, Any]) -> Any: ...

    def decode_json(self, value: Any) -> dict[str, Any]: ...

    def is_unique_violation(self, error: BaseException) -> bool: ...

    def close(self) -> None: ...


# How every resource this server writes begins (`jsonio.dumps` of a dict built with
# `resourceType` first); rows converted from JSONB by migration 8 begin otherwise.
_WRITTEN_HERE = '{"resourceType"'


def stored_body(d: Dialect, value: Any) -> dict[str, Any] | str | None:
    """A stored resource's JSON column as `StoredResource.body`: the text itself when this
    server wrote it (so that it can be sent unparsed), otherwise parsed by the dialect."""
    if value is None:
        return None
    if isinstance(value, str) and value.startswith(_WRITTEN_HERE):
        return value
    return d.decode_json(value)


def insert_rows(
    d: Dialect,
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    replace_key: str | None = None,
) -> None:
    """Insert rows into one table (see `Dialect.insert_statements`)."""
    if rows:
        statements = d.insert_statements(conn, table, columns, rows, replace_key=replace_key)
        d.execute_all(conn, statements)


def upsert_clause(columns: Sequence[str], replace_key: str | None) -> str:
    """What an INSERT ends with so that a row whose `replace_key` is taken replaces that row
    (the same words on both databases); empty without a key."""
    if replace_key is None:
        return ""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != replace_key)
    return f" ON CONFLICT ({replace_key}) DO UPDATE SET {updates}"
