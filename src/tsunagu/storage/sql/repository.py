"""SqlRepository: the one implementation of the storage port, for both dialects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tsunagu.storage.repository import (
    HistoryEntry,
    HistoryQuery,
    IdentifierCriterion,
    Method,
    StoredResource,
    iter_identifiers,
)
from tsunagu.storage.sql.dialect import Connection, Dialect
from tsunagu.storage.sql.migrations import migrate

_COLUMNS = "h.seq, h.resource_type, h.id, h.version, h.last_updated, h.method, h.content"
_HEAD = frozenset({"resourceType", "id", "meta"})
_CURRENT = f"SELECT {_COLUMNS} FROM resources r JOIN resource_history h ON h.seq = r.seq"


class SqlRepository:
    """Versioned resources in SQL. Build it with `open_repository` (storage.sql.connect)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        migrate(dialect)

    # --- reads of committed data -------------------------------------------------------

    def read(self, resource_type: str, id: str) -> StoredResource | None:
        with self.dialect.reader() as conn:
            return _read(self.dialect, conn, resource_type, id)

    def vread(self, resource_type: str, id: str, version: int) -> StoredResource | None:
        sql = self.dialect.sql(
            f"SELECT {_COLUMNS} FROM resource_history h "
            "WHERE h.resource_type = ? AND h.id = ? AND h.version = ?"
        )
        with self.dialect.reader() as conn:
            row = conn.execute(sql, (resource_type, id, version)).fetchone()
        return None if row is None else _stored(self.dialect, row)

    def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        where, params = _history_filter(self.dialect, query)
        sql = self.dialect.sql(
            f"SELECT {_COLUMNS} FROM resource_history h {where} ORDER BY h.seq DESC LIMIT ?"
        )
        with self.dialect.reader() as conn:
            rows = conn.execute(sql, (*params, query.count)).fetchall()
        return [HistoryEntry(int(row[0]), _stored(self.dialect, row)) for row in rows]

    def find(
        self,
        resource_type: str,
        *,
        ids: Sequence[str] = (),
        identifiers: Sequence[IdentifierCriterion] = (),
        after: str | None = None,
        limit: int | None = None,
    ) -> list[StoredResource]:
        with self.dialect.reader() as conn:
            return _find(self.dialect, conn, resource_type, ids, identifiers, after, limit)

    def count(self, resource_type: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM resources WHERE deleted = ?"
        params: tuple[Any, ...] = (False,)
        if resource_type is not None:
            sql += " AND resource_type = ?"
            params = (False, resource_type)
        with self.dialect.reader() as conn:
            return int(conn.execute(self.dialect.sql(sql), params).fetchone()[0])

    # --- writes --------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[SqlWriteSession]:
        with self.dialect.writer() as conn:
            yield SqlWriteSession(self.dialect, conn)

    def close(self) -> None:
        self.dialect.close()


class SqlWriteSession:
    """One write transaction (see `WriteSession`)."""

    def __init__(self, dialect: Dialect, conn: Connection) -> None:
        self._dialect = dialect
        self._conn = conn

    def lock(self, key: str) -> None:
        self._dialect.lock(self._conn, key)

    def read(self, resource_type: str, id: str) -> StoredResource | None:
        return _read(self._dialect, self._conn, resource_type, id)

    def find(
        self,
        resource_type: str,
        *,
        ids: Sequence[str] = (),
        identifiers: Sequence[IdentifierCriterion] = (),
        after: str | None = None,
        limit: int | None = None,
    ) -> list[StoredResource]:
        return _find(self._dialect, self._conn, resource_type, ids, identifiers, after, limit)

    def save(
        self,
        resource_type: str,
        id: str,
        content: dict[str, Any] | None,
        *,
        method: Method,
        previous: StoredResource | None,
    ) -> StoredResource:
        """Append the next version; sets meta.versionId and meta.lastUpdated on `content`."""
        d, conn = self._dialect, self._conn
        version = 1 if previous is None else previous.version + 1
        now = datetime.now(UTC)
        if previous is not None and now <= previous.last_updated:
            now = previous.last_updated + timedelta(microseconds=1)  # keep history monotonic
        if content is not None:
            meta = dict(content.get("meta") or {})
            meta["versionId"] = str(version)
            meta["lastUpdated"] = now.isoformat()
            # resourceType, id and meta first, as people expect to read them.
            content = {
                "resourceType": resource_type,
                "id": id,
                "meta": meta,
                **{k: v for k, v in content.items() if k not in _HEAD},
            }
        row = conn.execute(
            d.sql(
                "INSERT INTO resource_history "
                "(resource_type, id, version, last_updated, method, content) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING seq"
            ),
            (
                resource_type,
                id,
                version,
                d.encode_time(now),
                method,
                None if content is None else d.encode_json(content),
            ),
        ).fetchone()
        seq = int(row[0])
        conn.execute(
            d.sql(
                "INSERT INTO resources (resource_type, id, version, seq, deleted) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (resource_type, id) DO UPDATE SET "
                "version = excluded.version, seq = excluded.seq, deleted = excluded.deleted"
            ),
            (resource_type, id, version, seq, content is None),
        )
        if previous is not None:
            conn.execute(
                d.sql("DELETE FROM resource_identifiers WHERE resource_type = ? AND id = ?"),
                (resource_type, id),
            )
        if content is not None:
            for system, value in set(iter_identifiers(content)):
                conn.execute(
                    d.sql(
                        "INSERT INTO resource_identifiers (resource_type, id, system, value) "
                        "VALUES (?, ?, ?, ?)"
                    ),
                    (resource_type, id, system, value),
                )
        return StoredResource(resource_type, id, version, now, method, content)


# --- shared query helpers (used with a reader or a writer connection) --------------------


def _stored(d: Dialect, row: Any) -> StoredResource:
    content = None if row[6] is None else d.decode_json(row[6])
    return StoredResource(row[1], row[2], int(row[3]), d.decode_time(row[4]), row[5], content)


def _read(d: Dialect, conn: Connection, resource_type: str, id: str) -> StoredResource | None:
    sql = d.sql(f"{_CURRENT} WHERE r.resource_type = ? AND r.id = ?")
    row = conn.execute(sql, (resource_type, id)).fetchone()
    return None if row is None else _stored(d, row)


def _find(
    d: Dialect,
    conn: Connection,
    resource_type: str,
    ids: Sequence[str],
    identifiers: Sequence[IdentifierCriterion],
    after: str | None,
    limit: int | None,
) -> list[StoredResource]:
    clauses = ["r.resource_type = ?", "r.deleted = ?"]
    params: list[Any] = [resource_type, False]
    if ids:
        clauses.append(f"r.id IN ({', '.join('?' for _ in ids)})")
        params.extend(ids)
    for criterion in identifiers:
        sub = ["i.resource_type = r.resource_type", "i.id = r.id"]
        if criterion.value is not None:
            sub.append("i.value = ?")
            params.append(criterion.value)
        if criterion.system is not None:
            sub.append("i.system = ?")
            params.append(criterion.system)
        clauses.append(f"EXISTS (SELECT 1 FROM resource_identifiers i WHERE {' AND '.join(sub)})")
    if after is not None:
        clauses.append("r.id > ?")
        params.append(after)
    sql = f"{_CURRENT} WHERE {' AND '.join(clauses)} ORDER BY r.id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    sql = d.sql(sql)
    return [_stored(d, row) for row in conn.execute(sql, params).fetchall()]


def _history_filter(d: Dialect, query: HistoryQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.resource_type is not None:
        clauses.append("h.resource_type = ?")
        params.append(query.resource_type)
    if query.id is not None:
        clauses.append("h.id = ?")
        params.append(query.id)
    if query.since is not None:
        clauses.append("h.last_updated >= ?")
        params.append(d.encode_time(query.since))
    if query.at_end is not None:
        clauses.append("h.last_updated < ?")
        params.append(d.encode_time(query.at_end))
    if query.at_start is not None:
        # ...and not superseded before the period starts.
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.resource_type = h.resource_type"
            " AND n.id = h.id AND n.version = h.version + 1 AND n.last_updated <= ?)"
        )
        params.append(d.encode_time(query.at_start))
    if query.before is not None:
        clauses.append("h.seq < ?")
        params.append(query.before)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
