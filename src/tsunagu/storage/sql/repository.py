"""SqlRepository: the one implementation of the storage port, for both dialects."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tsunagu.search.index import (
    TABLES,
    codes_of_type,
    rebuilt_together,
    row_codes,
    stale_row_codes,
)
from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.plan import AUDIT_TYPE, Cursor
from tsunagu.search.query import AccessFilter, Include, SearchQuery
from tsunagu.search.sql import Fragment, one_of
from tsunagu.storage.access import AccessGrant
from tsunagu.storage.repository import (
    HistoryEntry,
    HistoryQuery,
    Match,
    Method,
    StoredResource,
)
from tsunagu.storage.sql import access_grants, searching
from tsunagu.storage.sql.dialect import Connection, Dialect, stored_body
from tsunagu.storage.sql.indexing import (
    PendingVersion,
    delete_index_rows,
    keyed_rows,
    write_index_rows,
    write_versions,
)
from tsunagu.storage.sql.migrations import migrate

_COLUMNS = "h.seq, h.resource_type, h.id, h.version, h.last_updated, h.method, h.content"
_HEAD = frozenset({"resourceType", "id", "meta"})
_CURRENT = f"SELECT {_COLUMNS} FROM resources r JOIN resource_history h ON h.seq = r.seq"
REINDEX_BATCH = 500
PRUNE_BATCH = 20_000  # index rows deleted per transaction when pruning


class SqlRepository:
    """Versioned resources and their search index in SQL (see `storage.repository`)."""

    def __init__(self, dialect: Dialect, registry: SearchRegistry) -> None:
        self.dialect = dialect
        self.registry = registry
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

    def search(self, query: SearchQuery, cursor: Cursor | None = None) -> list[Match]:
        with self.dialect.reader() as conn:
            return searching.search(self.dialect, conn, query, cursor)

    def count_matches(self, query: SearchQuery) -> int:
        with self.dialect.reader() as conn:
            return searching.count(self.dialect, conn, query)

    def include(
        self, matches: Sequence[Match], include: Include, access: AccessFilter | None = None
    ) -> list[Match]:
        audit_codes: list[str] = []
        if include.reverse and include.param is None and include.source_type in ("*", AUDIT_TYPE):
            params = self.registry.for_type(AUDIT_TYPE)
            references = [code for code, param in params.items() if param.type == "reference"]
            audit_codes = sorted(row_codes(self.registry, AUDIT_TYPE, references))
        with self.dialect.reader() as conn:
            return searching.include(self.dialect, conn, matches, include, access, audit_codes)

    def is_visible(self, resource_type: str, id: str, access: AccessFilter) -> bool:
        with self.dialect.reader() as conn:
            return searching.visible(self.dialect, conn, resource_type, id, access)

    def has_grant(
        self, *, facility: str, subject: str, patient: str, category: str | None, at: datetime
    ) -> bool:
        with self.dialect.reader() as conn:
            return access_grants.has_grant(
                self.dialect,
                conn,
                facility=facility,
                subject=subject,
                patient=patient,
                category=category,
                at=at,
            )

    def add_grants(self, grants: Sequence[AccessGrant]) -> None:
        with self.dialect.writer() as conn:
            access_grants.add_grants(self.dialect, conn, grants)

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
            session = SqlWriteSession(self.dialect, conn, self.registry)
            yield session
            session.flush()

    def reindex(
        self,
        resource_types: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None,
        params: Sequence[str] = (),
    ) -> int:
        """Recompute index rows of current resources, in batches of one transaction each.

        `params`: rebuild only these parameters' rows (one added to the server, or computed
        differently after an upgrade), and those of the parameters that must be rebuilt with
        them (`search.index.rebuilt_together`: `name` with `family` and `given`), leaving
        every other row and the consent categories as they are; ValueError if none of them is
        a parameter of the types."""
        d = self.dialect
        only: frozenset[str] | None = None
        codes: list[str] = []
        if params:
            types = resource_types or sorted(self.registry.definitions.resource_types)
            rebuilt = {t: rebuilt_together(self.registry, t, params) for t in types}
            only = frozenset().union(*rebuilt.values())
            codes = sorted({c for t in types for c in row_codes(self.registry, t, rebuilt[t])})
            if not codes:
                raise ValueError(f"no such search parameter: {', '.join(params)}")
        type_filter = ""
        args: list[Any] = [False]
        if resource_types:
            # An expression, not the column: both planners then walk the primary key in
            # order, where the type index made every batch sort every resource of the type.
            marks = ", ".join("?" for _ in resource_types)
            type_filter = f" AND (r.resource_type || '') IN ({marks})"
            args += list(resource_types)
        total = self._count_where(type_filter, args)
        done, after = 0, 0
        while True:
            with d.writer() as conn:
                rows = conn.execute(
                    d.sql(
                        "SELECT r.res_key, h.content FROM resources r JOIN resource_history h"
                        f" ON h.seq = r.seq WHERE r.deleted = ?{type_filter} AND r.res_key > ?"
                        " ORDER BY r.res_key LIMIT ?"
                    ),
                    (*args, after, REINDEX_BATCH),
                ).fetchall()
                keys = [int(row[0]) for row in rows]
                delete_index_rows(d, conn, keys, codes)
                by_table: dict[str, list[tuple[Any, ...]]] = {}
                access_rows = [
                    keyed_rows(int(res_key), d.decode_json(content), self.registry, by_table, only)
                    for res_key, content in rows
                ]
                write_index_rows(d, conn, by_table, [row for row in access_rows if row])
            if not rows:
                if not resource_types and not params:  # everything is computed afresh
                    self._rebuilt(None)
                return done
            done += len(rows)
            after = rows[-1][0]
            if progress is not None:
                progress(done, total)

    def reindex_type(
        self,
        param_type: str,
        resource_types: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """`reindex` of the parameters of one type (`date`), and of the composites with a
        component of it (`search.index.codes_of_type`); a rebuild of every resource ends the
        rebuild of that type owed since an upgrade (`pending_rebuilds`). ValueError if no
        parameter has that type."""
        types = resource_types or sorted(self.registry.definitions.resource_types)
        codes = sorted({c for t in types for c in codes_of_type(self.registry, t, param_type)})
        if not codes:
            raise ValueError(f"no search parameter of type {param_type!r}")
        count = self.reindex(resource_types, progress, params=codes)
        if not resource_types:
            self._rebuilt(param_type)
        return count

    def pending_rebuilds(self) -> dict[str, str]:
        """Parameter types whose index rows an upgrade changed, with the reason: their rows
        are stale until `reindex_type` (or a full `reindex`) computes them again."""
        with self.dialect.reader() as conn:
            rows = conn.execute(
                "SELECT param_type, reason FROM index_rebuilds ORDER BY param_type"
            ).fetchall()
        return {str(param_type): str(reason) for param_type, reason in rows}

    def _rebuilt(self, param_type: str | None) -> None:
        """The rebuild owed for this parameter type (every type: None) is done."""
        d = self.dialect
        with d.writer() as conn:
            if param_type is None:
                conn.execute("DELETE FROM index_rebuilds")
            else:
                conn.execute(
                    d.sql("DELETE FROM index_rebuilds WHERE param_type = ?"), (param_type,)
                )

    def prune_index(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Delete the index rows that no search parameter writes any more (see
        `search.index.stale_row_codes`); returns how many. Every other row stays, so this is
        much cheaper than `reindex`. It deletes in short transactions, found by the
        (type, param) index, so a running server is held up for moments only."""
        d = self.dialect
        stale: list[tuple[str, Fragment, int]] = []  # (table, its stale rows, how many)
        with d.reader() as conn:
            for table in TABLES:
                by_param = f"SELECT resource_type, param, COUNT(*) FROM {table} GROUP BY 1, 2"
                found = conn.execute(by_param).fetchall()
                counts = {(rtype, code): int(n) for rtype, code, n in found}
                for rtype, codes in stale_row_codes(self.registry, counts).items():
                    rows = Fragment("resource_type = ?", (rtype,)) & one_of("param", codes)
                    stale.append((table, rows, sum(counts[rtype, code] for code in codes)))
        total = sum(n for _, _, n in stale)
        removed = 0
        for table, rows, _ in stale:
            while True:
                some = Fragment(
                    f"DELETE FROM {table} WHERE {d.row_id} IN"
                    f" (SELECT {d.row_id} FROM {table} WHERE {rows.sql} LIMIT ?)",
                    (*rows.params, PRUNE_BATCH),
                )
                sql, params = searching.spread(d, some)
                with d.writer() as conn:
                    deleted = conn.execute(d.sql(sql), params).rowcount
                removed += deleted
                if progress is not None:
                    progress(min(removed, total), total)
                if deleted < PRUNE_BATCH:
                    break
        return removed

    def _count_where(self, type_filter: str, params: list[Any]) -> int:
        sql = f"SELECT COUNT(*) FROM resources r WHERE r.deleted = ?{type_filter}"
        with self.dialect.reader() as conn:
            return int(conn.execute(self.dialect.sql(sql), params).fetchone()[0])

    def close(self) -> None:
        self.dialect.close()


class SqlWriteSession:
    """One write transaction (see `WriteSession`). Saves are buffered and written together
    (`indexing.write_versions`) before any read in the session and when it ends."""

    def __init__(self, dialect: Dialect, conn: Connection, registry: SearchRegistry) -> None:
        self._dialect = dialect
        self._conn = conn
        self._registry = registry
        self._pending: list[PendingVersion] = []
        self._pending_keys: set[tuple[str, str]] = set()

    def lock(self, key: str) -> None:
        self._dialect.lock(self._conn, key)

    def read(self, resource_type: str, id: str) -> StoredResource | None:
        self.flush()
        return _read(self._dialect, self._conn, resource_type, id)

    def search(self, query: SearchQuery, cursor: Cursor | None = None) -> list[Match]:
        self.flush()
        return searching.search(self._dialect, self._conn, query, cursor)

    def save(
        self,
        resource_type: str,
        id: str,
        content: dict[str, Any] | None,
        *,
        method: Method,
        previous: StoredResource | None,
    ) -> StoredResource:
        """The next version, with meta.versionId and meta.lastUpdated set; written on flush."""
        if (resource_type, id) in self._pending_keys:
            self.flush()  # one version per resource per batch
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
        stored = StoredResource(resource_type, id, version, now, method, content)
        self._pending.append(PendingVersion(stored, replaces=previous is not None))
        self._pending_keys.add((resource_type, id))
        return stored

    def queue(self, versions: Sequence[PendingVersion]) -> None:
        """Versions of new resources built elsewhere (AuditEvents, with their index rows),
        written on flush with the session's own."""
        for version in versions:
            key = (version.stored.resource_type, version.stored.id)
            if key in self._pending_keys:
                self.flush()  # one version per resource per batch
            self._pending.append(version)
            self._pending_keys.add(key)

    def flush(self) -> None:
        """Write the buffered versions now (still inside the transaction)."""
        if self._pending:
            write_versions(self._dialect, self._conn, self._registry, self._pending)
            self._pending = []
            self._pending_keys = set()


# --- shared query helpers (used with a reader or a writer connection) --------------------


def _stored(d: Dialect, row: Any) -> StoredResource:
    body = stored_body(d, row[6])
    return StoredResource(row[1], row[2], int(row[3]), d.decode_time(row[4]), row[5], body)


def _read(d: Dialect, conn: Connection, resource_type: str, id: str) -> StoredResource | None:
    sql = d.sql(f"{_CURRENT} WHERE r.resource_type = ? AND r.id = ?")
    row = conn.execute(sql, (resource_type, id)).fetchone()
    return None if row is None else _stored(d, row)


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
