"""PostgreSQL: a batch of versions and their index rows, sent as one pipeline.

The index rows of a version need its `res_key`, which the server gives it when it writes the
version. Waiting for the keys leaves one side idle at a time: the server while this process
builds the index rows (about 100 µs of Python per resource), then this process while the
server inserts them. So here the statements name each version by its place in the batch
(`n`), and the server finds the keys itself, in `resources` by type and id (written by the
batch's first statement, which comes before them in the same transaction). Statements go out
in pipeline mode as the rows are built, a chunk at a time, so the server writes a chunk while
the next is built; results are read once, at the end, where an error is raised too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tsunagu.fhir import jsonio
from tsunagu.search.index import TABLES, IndexRows
from tsunagu.search.parameters import MODULES
from tsunagu.storage.repository import StoredResource
from tsunagu.storage.sql.dialect import Connection
from tsunagu.storage.sql.postgres import PostgresDialect
from tsunagu.storage.sql.version_rows import Key, keys_of, pg_statement

# What a version gives to write: its index rows (param, grp, *columns) and its access row's
# (access_class, facility, patient); None for a deletion.
Built = tuple[IndexRows, tuple[str, str | None, str | None]] | None
# Index rows per statement, about (a chunk ends with a whole resource). The last chunk is what
# the writer waits for after building everything: smaller chunks leave less of it (512 rows:
# about 7 ms of waiting per 100-resource Bundle, 160: about 4.5; docs/postgresql.md).
_CHUNK_ROWS = 160
_LAST_FEW = 10  # versions left that go with the chunk before them, not in a statement of their own
_COLUMNS = {module.TABLE: ("param", "grp", *module.COLUMNS) for module in MODULES.values()}
_ACCESS_COLUMNS = ("access_class", "facility", "patient")
# The keys of a chunk's versions, by place: the WITH query every insert of the chunk reads.
_KEYS = (
    "k AS (SELECT o.n, o.r, v.res_key, v.resource_type"
    " FROM json_to_recordset(%s::json) AS o(n integer, t text, id text, r boolean)"
    # One index lookup per version (LIMIT keeps the planner from making it a join that
    # reads the whole table).
    " CROSS JOIN LATERAL (SELECT res_key, resource_type FROM resources"
    ' WHERE resource_type = o.t COLLATE "C" AND id = o.id COLLATE "C" LIMIT 1) AS v)'
)


def write(
    d: PostgresDialect,
    conn: Connection,
    versions: Sequence[tuple[StoredResource, bool]],
    build: Callable[[int], Built],
) -> dict[Key, int]:
    """Write (version, replaces an earlier one) pairs, and the index and access rows that
    `build` gives for the version at each place; returns the versions' keys."""
    with d.pipeline(conn):
        written = conn.execute(*pg_statement([stored for stored, _ in versions]))
        chunk = _Chunk()
        for n, (stored, replaces) in enumerate(versions):
            chunk.add(n, stored, replaces, build(n))
            if chunk.rows >= _CHUNK_ROWS and len(versions) - n > _LAST_FEW:
                chunk.send(d, conn)
                chunk = _Chunk()
        chunk.send(d, conn)
        return keys_of(written.fetchall())


class _Chunk:
    """Versions whose rows go out in one statement."""

    def __init__(self) -> None:
        self.rows = 0
        self._versions: list[dict[str, Any]] = []
        self._replaces = False
        self._by_table: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
        self._access: list[tuple[Any, ...]] = []

    def add(self, n: int, stored: StoredResource, replaces: bool, built: Built) -> None:
        self._versions.append({"n": n, "t": stored.resource_type, "id": stored.id, "r": replaces})
        self._replaces = self._replaces or replaces
        if built is None:
            return
        rows, access = built
        head = (n,)
        for table, table_rows in rows.items():
            if table_rows:
                self._by_table[table].extend([head + row for row in table_rows])
                self.rows += len(table_rows)
        self._access.append((n, *access))

    def send(self, d: PostgresDialect, conn: Connection) -> None:
        """One statement: the replaced versions' index rows deleted, the new ones and the
        access rows inserted (all on one snapshot: the deletes do not see the inserts)."""
        if not self._versions:
            return
        parts = [_KEYS]
        params: list[Any] = [jsonio.dumps(self._versions).decode()]
        if self._replaces:
            parts += [
                f"d_{table} AS (DELETE FROM {table}"
                " WHERE res_key IN (SELECT res_key FROM k WHERE k.r))"
                for table in TABLES
            ]
        inserts = [
            d.keyed_insert(conn, table, _COLUMNS[table], rows)
            for table, rows in self._by_table.items()
            if rows
        ]
        if self._access:
            inserts.append(
                d.keyed_insert(
                    conn, "resource_access", _ACCESS_COLUMNS, self._access, replace_key="res_key"
                )
            )
        for i, (sql, values) in enumerate(inserts):
            parts.append(f"i{i} AS ({sql})")
            params += values
        conn.execute(f"WITH {', '.join(parts)} SELECT 1", params)
