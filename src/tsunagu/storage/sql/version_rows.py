"""The history row and the current-version pointer of each version in a batch, in bulk.

Each version gets a `resource_history` row (its `seq`), then its `resources` row is created
or repointed at it (its `res_key`). Both are written for a whole batch at once:

- SQLite: multi-row INSERTs of up to 200 rows with `RETURNING`;
- PostgreSQL: one statement whatever the batch size, `INSERT ... SELECT FROM
  json_to_recordset(?)` into the history and, from what it returns, into the pointers.
  psycopg keeps a parsed statement only while it has at most 50 parameters; a multi-row
  INSERT of a 100-resource Bundle (600 parameters) was parsed again in Python on every
  call, about 3 ms per statement. One JSON parameter has nothing to parse, and the
  statement text never changes, so the server keeps it prepared too.

A batch holds at most one version per resource (`SqlWriteSession.save` flushes first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tsunagu.fhir import jsonio
from tsunagu.storage.repository import StoredResource
from tsunagu.storage.sql.dialect import Connection, Dialect

Key = tuple[str, str]  # (resource type, id)
_CHUNK = 200  # rows per multi-row statement (SQLite)
_UPSERT = (
    " ON CONFLICT (resource_type, id) DO UPDATE SET version = excluded.version,"
    " seq = excluded.seq, last_updated = excluded.last_updated, deleted = excluded.deleted"
)
# The history rows, and the pointers repointed at them from what the insert returns: one
# round trip. Ordered by `seq` so that new resources get their keys in the batch's order.
_PG_VERSIONS = (
    "WITH h AS (INSERT INTO resource_history"
    " (resource_type, id, version, last_updated, method, content)"
    " SELECT r.t, r.id, r.v, r.at, r.m, r.c FROM json_to_recordset(%s::json)"
    " AS r(t text, id text, v integer, at timestamptz, m text, c json)"
    " RETURNING seq, resource_type, id, version, last_updated, content IS NULL AS gone)"
    " INSERT INTO resources (resource_type, id, version, seq, last_updated, deleted)"
    " SELECT resource_type, id, version, seq, last_updated, gone FROM h ORDER BY seq"
    f"{_UPSERT} RETURNING res_key, resource_type, id"
)


def write_version_rows(
    d: Dialect, conn: Connection, versions: Sequence[StoredResource]
) -> dict[Key, int]:
    """Write the versions' history rows and point their resources at them; returns the
    `res_key` of each (resource type, id)."""
    if not versions:
        return {}
    if d.name == "postgresql":
        return keys_of(conn.execute(*pg_statement(versions)).fetchall())
    return _multi_row(d, conn, versions)


def pg_statement(versions: Sequence[StoredResource]) -> tuple[str, tuple[str]]:
    """PostgreSQL's one statement for the batch; it returns (res_key, type, id) rows."""
    # A JSON null (a deletion's missing content) becomes SQL NULL in json_to_recordset, and
    # each content is passed on as its text (a `json` column), not parsed.
    history = [
        {
            "t": v.resource_type,
            "id": v.id,
            "v": v.version,
            "at": v.last_updated.isoformat(),
            "m": v.method,
            "c": v.content,
        }
        for v in versions
    ]
    return _PG_VERSIONS, (jsonio.dumps(history).decode(),)


def keys_of(rows: Sequence[Sequence[Any]]) -> dict[Key, int]:
    """The keys of the versions from the (res_key, type, id) rows the statements return."""
    return {(str(rtype), str(rid)): int(res_key) for res_key, rtype, rid in rows}


def _multi_row(d: Dialect, conn: Connection, versions: Sequence[StoredResource]) -> dict[Key, int]:
    seqs: dict[Key, int] = {}
    keys: dict[Key, int] = {}
    for start in range(0, len(versions), _CHUNK):
        chunk = versions[start : start + _CHUNK]
        history = [
            (
                v.resource_type,
                v.id,
                v.version,
                d.encode_time(v.last_updated),
                v.method,
                None if v.content is None else d.encode_json(v.content),
            )
            for v in chunk
        ]
        sql = _insert(
            d,
            "resource_history (resource_type, id, version, last_updated, method, content)",
            len(history),
            "RETURNING seq, resource_type, id",
        )
        for seq, rtype, rid in conn.execute(sql, _flat(history)).fetchall():
            seqs[(rtype, rid)] = int(seq)
        pointers = [
            (
                v.resource_type,
                v.id,
                v.version,
                seqs[(v.resource_type, v.id)],
                d.encode_time(v.last_updated),
                v.deleted,
            )
            for v in chunk
        ]
        sql = _insert(
            d,
            "resources (resource_type, id, version, seq, last_updated, deleted)",
            len(pointers),
            f"{_UPSERT} RETURNING res_key, resource_type, id",
        )
        for res_key, rtype, rid in conn.execute(sql, _flat(pointers)).fetchall():
            keys[(rtype, rid)] = int(res_key)
    return keys


def _insert(d: Dialect, target: str, rows: int, tail: str) -> str:
    row = "(" + ", ".join("?" for _ in range(6)) + ")"
    return d.sql(f"INSERT INTO {target} VALUES {', '.join(row for _ in range(rows))} {tail}")


def _flat(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [value for row in rows for value in row]
