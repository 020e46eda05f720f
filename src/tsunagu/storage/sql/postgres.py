"""PostgreSQL dialect: the production store. JSONB content, a psycopg 3 connection pool.

Concurrent writers to the same resource are serialised with transaction-scoped advisory locks
(taken on a 64-bit hash of the key), which also covers resources that do not exist yet and
conditional-create criteria, where a row lock would have nothing to lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

import psycopg
from psycopg.types.json import Json, set_json_dumps, set_json_loads
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

from tsunagu.fhir import jsonio
from tsunagu.storage.sql.dialect import Connection, Statement, upsert_clause

_CONNECT_TIMEOUT_S = 10  # the first connection (see `PostgresDialect.__init__`)
_HEAD = ("resourceType", "id", "meta")


def _configure(conn: psycopg.Connection[Any]) -> None:
    set_json_loads(jsonio.loads, conn)
    set_json_dumps(jsonio.dumps, conn)
    # `json` columns come back as their text: `decode_json` parses them, and a stored
    # resource's text can go out unparsed (`dialect.stored_body`).
    conn.adapters.register_loader("json", TextLoader)


def _element(index: int, data_type: str) -> str:
    """Element `index` of the JSON array `e` as a value for a column of `data_type`."""
    if data_type == "text":
        return f"e->>{index}"
    return f"(e->>{index})::{data_type}"


class PostgresDialect:
    name = "postgresql"
    row_id = "ctid"  # the row's physical address, for deleting some rows of a table without a key
    types: ClassVar[dict[str, str]] = {
        "ts": "TIMESTAMPTZ",
        # Kept as text: the server sends it back as stored, where JSONB is re-serialised on
        # every read (about 15 µs of server CPU per resource); nothing queries inside it.
        "json": "JSON",
        "seq": "BIGINT GENERATED ALWAYS AS IDENTITY",
        "text": 'TEXT COLLATE "C"',
        "bool": "BOOLEAN",
        "float": "DOUBLE PRECISION",
        # Not a type: a search_date row `w` spanning more than a day (`search.params.date`).
        "wide_range": "w.high - w.low > interval '1 day'",
    }

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        # One connection first: a database that cannot be reached (refused, unknown host,
        # wrong password) fails here at once with its reason, instead of after the pool's
        # 30 seconds of retries, each logged as a warning, and a timeout that names none.
        psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT_S, autocommit=True).close()
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            configure=_configure,
            # Reads run as single statements with no BEGIN/COMMIT round trips; writes open
            # an explicit transaction (`writer`).
            kwargs={"autocommit": True},
            open=True,
            name="tsunagu",
        )
        self._pool.wait(timeout=30)
        # INSERT statements by (table, columns, replace key): built from the column types.
        self._inserts: dict[tuple[str, tuple[str, ...], str | None, bool], str] = {}

    def sql(self, text: str) -> str:
        text = text.format(**self.types) if "{" in text else text
        return text.replace("?", "%s")

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def writer(self) -> Iterator[Connection]:
        # The pool's context commits on success and rolls back on any exception.
        with self._pool.connection() as conn, conn.transaction():
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
        """One statement whose single parameter is the rows as a JSON array of arrays.

        COPY costs three round trips (start, data, end), and psycopg formats each row in
        Python. The JSON text is written by orjson and unpacked by the server in one round
        trip, whatever the number of rows, and several tables' statements can go together
        (`execute_all`). Per row, the server's work is about that of COPY (measured on
        transaction ingest); a small transaction, such as an audit batch, saves most of its
        round trips."""
        return [self._insert(conn, table, columns, rows, replace_key, keyed=False)]

    def keyed_insert(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        replace_key: str | None = None,
    ) -> Statement:
        """An INSERT like `insert_statements`' for rows that start with their resource's place
        in a batch instead of (res_key, resource_type): it takes those two from `k` (n,
        res_key, resource_type), a WITH query of the statement it goes into (`pg_batch`).
        `columns` are the ones after the two."""
        return self._insert(conn, table, columns, rows, replace_key, keyed=True)

    def _insert(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        replace_key: str | None,
        *,
        keyed: bool,
    ) -> Statement:
        key = (table, tuple(columns), replace_key, keyed)
        sql = self._inserts.get(key)
        if sql is None:
            sql = self._inserts[key] = self._insert_sql(conn, table, columns, replace_key, keyed)
        return (sql, (jsonio.dumps(rows).decode(),))

    def _insert_sql(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[str],
        replace_key: str | None,
        keyed: bool,
    ) -> str:
        found = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
        types = {str(name): str(kind) for name, kind in found}
        if not keyed:
            values = ", ".join(_element(i, types[c]) for i, c in enumerate(columns))
            return (
                f"INSERT INTO {table} ({', '.join(columns)})"
                f" SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS e"
                + upsert_clause(columns, replace_key)
            )
        values = ", ".join(_element(i, types[c]) for i, c in enumerate(columns, start=1))
        written = ("res_key", "resource_type", *columns)
        return (
            f"INSERT INTO {table} ({', '.join(written)})"
            f" SELECT k.res_key, k.resource_type, {values}"
            " FROM jsonb_array_elements(%s::jsonb) AS e JOIN k ON k.n = (e->>0)::integer"
            + upsert_clause(written, replace_key)
        )

    def execute_all(self, conn: Connection, statements: Sequence[Statement]) -> None:
        """One statement: each of them becomes a data-modifying WITH query, all run on one
        snapshot (so they must not depend on each other's effects)."""
        if len(statements) == 1:
            conn.execute(*statements[0])
        elif statements:
            parts = ", ".join(f"s{i} AS ({sql})" for i, (sql, _) in enumerate(statements))
            conn.execute(f"WITH {parts} SELECT 1", [p for _, params in statements for p in params])

    def lock(self, conn: Connection, key: str) -> None:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s)", (int.from_bytes(digest, "big", signed=True),)
        )

    @contextmanager
    def pipeline(self, conn: Connection) -> Iterator[None]:
        """Inside, statements are sent without waiting for them to run (pipeline mode): the
        server runs them while this process goes on, and a cursor's results are read when
        fetched."""
        assert isinstance(conn, psycopg.Connection)
        with conn.pipeline():
            yield

    def encode_time(self, value: datetime) -> datetime:
        return value

    def decode_time(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value

    def encode_json(self, value: dict[str, Any]) -> Json:
        return Json(value)

    def decode_json(self, value: Any) -> dict[str, Any]:
        if isinstance(value, str | bytes):
            value = jsonio.loads(value)
        assert isinstance(value, dict)
        # Rows converted from JSONB (migration 8) have their keys ordered by length: put
        # resourceType, id and meta first again.
        head = {key: value[key] for key in _HEAD if key in value}
        return {**head, **value}

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, psycopg.errors.UniqueViolation)

    def close(self) -> None:
        self._pool.close()
