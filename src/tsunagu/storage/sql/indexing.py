"""Writing versions and their search index rows in batches, inside the write transaction.

A write session buffers the versions it saves and writes them together: the history and the
resource pointers in bulk (`version_rows`), then the replaced index rows deleted and the new
index and access rows inserted, each as statements that the dialect runs together
(`Dialect.execute_all`). A transaction Bundle of 100 resources thus costs a handful of
statements instead of hundreds. On PostgreSQL all of them go out as one pipeline
(`pg_batch`), and the server writes while this process builds the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tsunagu.search.index import TABLES, IndexRows, index_resource
from tsunagu.search.parameters import MODULES, SearchRegistry
from tsunagu.security.policy import ResourceAccess
from tsunagu.storage.access import describe
from tsunagu.storage.repository import StoredResource
from tsunagu.storage.sql import pg_batch
from tsunagu.storage.sql.access_grants import AccessRow, access_statements, rewrite_consent_grants
from tsunagu.storage.sql.dialect import Connection, Dialect, Statement
from tsunagu.storage.sql.postgres import PostgresDialect
from tsunagu.storage.sql.version_rows import Key, write_version_rows

_COLUMNS = {module.TABLE: module.COLUMNS for module in MODULES.values()}
_DATE_TABLE = MODULES["date"].TABLE
_REFERENCE_TABLE = MODULES["reference"].TABLE
_CHUNK = 200  # rows per multi-row statement (well under both databases' parameter limits)


@dataclass(frozen=True, slots=True)
class PendingVersion:
    """A version saved in the session and not yet written."""

    stored: StoredResource
    replaces: bool  # an earlier version exists: its index rows must go
    # Its index rows (param, grp, *columns), when they were built already (AuditEvents:
    # `audit_rows`); None: the registry's indexer builds them.
    rows: IndexRows | None = None


def write_versions(
    d: Dialect, conn: Connection, registry: SearchRegistry, pending: Sequence[PendingVersion]
) -> None:
    """Write buffered versions, repoint their resources and rewrite their index rows.

    PostgreSQL gets them as one pipeline (`pg_batch`): it writes while this process builds
    the rows. SQLite runs in this process: the versions are written first, for their keys."""
    if isinstance(d, PostgresDialect):
        keys = pg_batch.write(
            d,
            conn,
            [(p.stored, p.replaces) for p in pending],
            lambda n: _built(pending[n], registry),
        )
    else:
        keys = _write_in_order(d, conn, registry, pending)
    for p in pending:
        if p.stored.resource_type == "Consent":  # its grants follow its current version
            key = keys[(p.stored.resource_type, p.stored.id)]
            rewrite_consent_grants(d, conn, key, p.stored.content)


def _write_in_order(
    d: Dialect, conn: Connection, registry: SearchRegistry, pending: Sequence[PendingVersion]
) -> dict[Key, int]:
    keys = write_version_rows(d, conn, [p.stored for p in pending])
    replaced = [keys[(p.stored.resource_type, p.stored.id)] for p in pending if p.replaces]
    delete_index_rows(d, conn, replaced)
    by_table: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
    access_rows: list[AccessRow] = []
    for p in pending:
        built = _built(p, registry)
        if built is None:
            continue
        res_key = keys[(p.stored.resource_type, p.stored.id)]
        rows, access = built
        _add_keyed(by_table, res_key, p.stored.resource_type, rows)
        access_rows.append((res_key, p.stored.resource_type, *access))
    write_index_rows(d, conn, by_table, access_rows)
    return keys


def _built(p: PendingVersion, registry: SearchRegistry) -> pg_batch.Built:
    """A version's index rows (param, grp, *columns) and access row's (access_class,
    facility, patient); None for a deletion."""
    content = p.stored.content
    if content is None:
        return None
    rows = index_resource(content, registry) if p.rows is None else p.rows
    return rows, _access(describe(content, registry, rows.get(_REFERENCE_TABLE) or None))


def keyed_rows(
    res_key: int,
    content: dict[str, Any],
    registry: SearchRegistry,
    into: dict[str, list[tuple[Any, ...]]],
    only: frozenset[str] | None = None,
) -> AccessRow | None:
    """Add a resource's index rows, keyed, to `into` (by table), and return its access row;
    with `only` (some parameters' rows), None: the access row stays as it is."""
    rows = index_resource(content, registry, only=only)
    _add_keyed(into, res_key, str(content["resourceType"]), rows)
    if only is not None:
        return None
    access = _access(describe(content, registry, rows.get(_REFERENCE_TABLE) or None))
    return (res_key, str(content["resourceType"]), *access)


def _add_keyed(
    by_table: dict[str, list[tuple[Any, ...]]], res_key: int, resource_type: str, rows: IndexRows
) -> None:
    """Rows (param, grp, *columns) as written: (res_key, resource_type, param, grp, ...)."""
    head = (res_key, resource_type)
    for table, table_rows in rows.items():
        if table_rows:
            by_table.setdefault(table, []).extend([head + row for row in table_rows])


def _access(facts: ResourceAccess) -> tuple[str, str | None, str | None]:
    """A `resource_access` row's (access_class, facility, patient) (see storage.access)."""
    return (facts.access_class.value, facts.facility, facts.patient)


def delete_index_rows(
    d: Dialect, conn: Connection, res_keys: Sequence[int], params: Sequence[str] = ()
) -> None:
    """Remove every index row of these resources (only the rows of `params`, if given)."""
    only = ""
    if params:
        only = f" AND param IN ({', '.join('?' for _ in params)})"
    for start in range(0, len(res_keys), _CHUNK * 5):
        chunk = list(res_keys[start : start + _CHUNK * 5])
        marks = ", ".join("?" for _ in chunk)
        d.execute_all(
            conn,
            [
                (d.sql(f"DELETE FROM {table} WHERE res_key IN ({marks}){only}"), [*chunk, *params])
                for table in TABLES
            ],
        )


def write_index_rows(
    d: Dialect,
    conn: Connection,
    by_table: Mapping[str, Sequence[tuple[Any, ...]]],
    access_rows: Sequence[AccessRow] = (),
) -> None:
    """Insert (res_key, resource_type, param, grp, *columns) rows into the index tables, and
    access rows (each replacing its resource's previous one), together."""
    statements: list[Statement] = []
    for table, rows in by_table.items():
        if not rows:
            continue
        columns = ("res_key", "resource_type", "param", "grp", *_COLUMNS[table])
        if table == _DATE_TABLE:  # the only table with datetimes: (..., grp, low, high)
            encode = d.encode_time
            rows = [(*row[:4], encode(row[4]), encode(row[5])) for row in rows]
        statements += d.insert_statements(conn, table, columns, rows)
    statements += access_statements(d, conn, access_rows)
    d.execute_all(conn, statements)
