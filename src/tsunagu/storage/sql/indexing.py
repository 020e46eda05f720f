"""Writing search index rows, in the same transaction as the resource version they describe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tsunagu.search.index import TABLES, index_resource
from tsunagu.search.parameters import MODULES, SearchRegistry
from tsunagu.storage.sql.dialect import Connection, Dialect

_COLUMNS = {module.TABLE: module.COLUMNS for module in MODULES.values()}


def write_index(
    d: Dialect,
    conn: Connection,
    registry: SearchRegistry,
    res_key: int,
    content: dict[str, Any] | None,
    *,
    replace: bool,
) -> None:
    """Replace a resource's index rows with those of `content` (none for a tombstone)."""
    if replace:
        for table in TABLES:
            conn.execute(d.sql(f"DELETE FROM {table} WHERE res_key = ?"), (res_key,))
    if content is None:
        return
    resource_type = content["resourceType"]
    for table, rows in index_resource(content, registry).items():
        if rows:
            insert_rows(d, conn, table, res_key, resource_type, rows)


def insert_rows(
    d: Dialect,
    conn: Connection,
    table: str,
    res_key: int,
    resource_type: str,
    rows: Sequence[tuple[Any, ...]],
) -> None:
    columns = ("res_key", "resource_type", "param", "grp", *_COLUMNS[table])
    sql = d.sql(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    )
    encoded = [
        (res_key, resource_type, *(d.encode_time(v) if isinstance(v, datetime) else v for v in row))
        for row in rows
    ]
    d.executemany(conn, sql, encoded)
