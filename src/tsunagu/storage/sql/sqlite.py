"""SQLite dialect: the embedded default. One file, WAL, one writer per process.

Writes in a process go through one connection under a lock (datasette's single-writer model),
and `BEGIN IMMEDIATE` with a busy timeout serialises writers across worker processes, so no
request ever sees "database is locked". `synchronous=FULL` makes every acknowledged commit
survive a power cut, not only a process crash; concurrent writes share commits
(`group_commit`). The log is copied back into the database file
by a background thread (`checkpointer`), not inside the writers' commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from tsunagu.fhir import jsonio
from tsunagu.storage.sql.checkpointer import WalCheckpointer
from tsunagu.storage.sql.dialect import Connection, Statement, upsert_clause
from tsunagu.storage.sql.group_commit import GroupCommit

_BUSY_TIMEOUT_MS = 60_000
_WRITE_CACHE_KIB = 65_536  # the writer's page cache (readers keep the default)
_WAL_KEEP_BYTES = 67_108_864  # a reset log file is cut back to this size
_MAX_ROWS = 256  # rows per multi-row INSERT (x columns stays under SQLite's 32,766 variables)


class SqliteDialect:
    name = "sqlite"
    row_id = "rowid"  # every table's implicit key, for deleting some rows of a table without a key
    types: ClassVar[dict[str, str]] = {
        "ts": "TEXT",
        "json": "TEXT",
        "seq": "INTEGER",  # INTEGER PRIMARY KEY is the rowid: monotonic, never reused here
        "text": "TEXT",
        "bool": "INTEGER",
        "float": "REAL",
        # Not a type: a search_date row `w` spanning more than a day (`search.params.date`).
        "wide_range": "julianday(w.high) - julianday(w.low) > 1",
    }

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        self._write_conn = self._connect()
        # Index rows land at scattered places of the index tables' B-trees: a page cache
        # larger than the 2 MB default keeps those pages in memory between transactions.
        self._write_conn.execute(f"PRAGMA cache_size = -{_WRITE_CACHE_KIB}")
        self._write_conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._write_conn.execute(f"PRAGMA journal_size_limit = {_WAL_KEEP_BYTES}")
        self._checkpointer = WalCheckpointer(self._connect)
        self._groups = GroupCommit(self._write_conn, self._checkpointer.committed)
        self._all: list[sqlite3.Connection] = [self._write_conn]
        self._all_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Search values are stored and compared already case-folded (`search.text`), so LIKE
        # may be case-sensitive, as on PostgreSQL; then prefix searches use the indexes.
        conn.execute("PRAGMA case_sensitive_like = ON")
        return conn

    def sql(self, text: str) -> str:
        return text.format(**self.types) if "{" in text else text

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        # One snapshot for the whole block, so multi-statement reads are consistent.
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def writer(self) -> Iterator[Connection]:
        """A write session; concurrent ones share a commit (`group_commit`), and each
        returns only once its writes are committed."""
        with self._groups.session() as conn:
            yield conn

    def insert_statements(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        replace_key: str | None = None,
    ) -> list[Statement]:
        """Multi-row INSERTs of power-of-two sizes (at most 256 rows).

        `executemany` steps once per row, and each step releases and takes back the
        interpreter lock: beside busy request threads (the audit writer's case), every row
        then waits for the lock. A statement of many rows takes it back once. Sizes are
        powers of two so that each table needs at most nine statement texts, which the
        connection's statement cache keeps prepared."""
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        tail = upsert_clause(columns, replace_key)
        one = "(" + ", ".join("?" for _ in columns) + ")"
        statements: list[Statement] = []
        start = 0
        while start < len(rows):
            size = min(_MAX_ROWS, 1 << ((len(rows) - start).bit_length() - 1))
            chunk = rows[start : start + size]
            values = [v for row in chunk for v in row]
            statements.append((head + ", ".join(one for _ in chunk) + tail, values))
            start += size
        return statements

    def execute_all(self, conn: Connection, statements: Sequence[Statement]) -> None:
        """One after another: an embedded database has no round trips to save."""
        for sql, params in statements:
            conn.execute(sql, params)

    def lock(self, conn: Connection, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the database's single write lock."""

    def encode_time(self, value: datetime) -> str:
        """UTC with microseconds, `0800-01-01T00:00:00.000000+00:00`: fixed width (years of
        fewer than four digits zero-padded, which `strftime("%Y")` does not do), so text
        order is time order."""
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.isoformat(timespec="microseconds")

    def decode_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def encode_json(self, value: dict[str, Any]) -> str:
        return jsonio.dumps(value).decode()

    def decode_json(self, value: Any) -> dict[str, Any]:
        result: dict[str, Any] = jsonio.loads(value)
        return result

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)

    def close(self) -> None:
        self._checkpointer.close()
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
