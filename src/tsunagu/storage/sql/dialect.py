"""What differs between SQLite and PostgreSQL, as one small protocol.

`SqlRepository` writes its SQL once, with `?` placeholders and `{json}`/`{ts}`-style type
names; each dialect fills those in and converts values at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, ClassVar, Protocol


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

    def insert_rows(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert many rows into a table as fast as the database allows (values encoded)."""
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
