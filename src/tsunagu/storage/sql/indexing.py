"""Writing versions and their search index rows in batches, inside the write transaction.

A write session buffers the versions it saves and writes them together: the history and the
resource pointers in bulk (`version_rows`), then the replaced index rows deleted and the new
index and access rows inserted, each as statements that the dialect runs together
(`Dialect.execute_all`: on PostgreSQL, one round trip for all the tables). A transaction
Bundle of 100 resources thus costs a handful of statements instead of hundreds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tsunagu.search.index import TABLES, IndexRows, index_resource
from tsunagu.search.parameters import MODULES, SearchRegistry
from tsunagu.storage.access import describe
from tsunagu.storage.repository import StoredResource
from tsunagu.storage.sql.access_grants import AccessRow, access_statements, rewrite_consent_grants
from tsunagu.storage.sql.dialect import Connection, Dialect, Statement
from tsunagu.storage.sql.version_rows import write_version_rows

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
    """Write buffered versions, repoint their resources and rewrite their index rows."""
    keys = write_version_rows(d, conn, [p.stored for p in pending])
    replaced = [keys[(p.stored.resource_type, p.stored.id)] for p in pending if p.replaces]
    delete_index_rows(d, conn, replaced)
    by_table: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
    access_rows: list[AccessRow] = []
    for p in pending:
        res_key = keys[(p.stored.resource_type, p.stored.id)]
        if p.stored.resource_type == "Consent":  # its grants follow its current version
            rewrite_consent_grants(d, conn, res_key, p.stored.content)
        if p.stored.content is None:
            continue
        head = (res_key, p.stored.resource_type)
        if p.rows is None:
            indexed = index_resource(p.stored.content, registry, prefix=head)
        else:
            indexed = {table: [head + row for row in rows] for table, rows in p.rows.items()}
        for table, rows in indexed.items():
            if rows:
                by_table[table].extend(rows)
        access_rows.append(access_row(res_key, p.stored.content, registry, indexed, keyed=True))
    write_index_rows(d, conn, by_table, access_rows)


def access_row(
    res_key: int,
    content: dict[str, Any],
    registry: SearchRegistry,
    indexed: dict[str, Any],
    *,
    keyed: bool = False,
) -> AccessRow:
    """The `resource_access` row of a version (see storage.access.describe); `keyed`: the
    index rows start with (res_key, resource_type)."""
    # No reference rows (none written, or none indexed: `UnindexedRegistry`): `describe`
    # evaluates the compartment's parameters itself.
    references = indexed.get(_REFERENCE_TABLE) or None
    if keyed and references is not None:
        references = [row[2:] for row in references]
    facts = describe(content, registry, references)
    return (res_key, facts.resource_type, facts.access_class.value, facts.facility, facts.patient)


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
