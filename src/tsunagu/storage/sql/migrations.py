"""Versioned schema migrations, applied automatically at start-up.

Each migration is a list of statements written once for both dialects (or, as a (dialect name,
statement) pair, for one of them), with `{ts}`, `{json}`,
`{seq}`, `{bool}`, `{float}` and `{text}` standing for the dialect's types (`{text}` sorts by
bytes on both databases, so ids order alike). Migrations run in one transaction under a lock,
so concurrent workers starting together apply each exactly once, and a fresh database and an
upgraded one end up the same (`tests/integration/test_migrations.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tsunagu.storage.sql import schema_access, schema_audit, schema_auth
from tsunagu.storage.sql.dialect import Dialect


def _index_table(name: str, columns: str, *lookups: str) -> list[str]:
    """A search index table: one row per value a parameter extracted from a resource.

    `grp` ties together the component rows of one composite value (NULL otherwise).
    """
    statements = [
        f"""CREATE TABLE {name} (
            res_key BIGINT NOT NULL,
            resource_type {{text}} NOT NULL,
            param {{text}} NOT NULL,
            grp INTEGER,
            {columns}
        )""",
        f"CREATE INDEX {name}_owner ON {name} (res_key, param)",
    ]
    for i, lookup in enumerate(lookups):
        statements.append(
            f"CREATE INDEX {name}_lookup{i} ON {name} (resource_type, param, {lookup})"
        )
    return statements


# A statement for one dialect only is a (dialect name, statement) pair.
Statement = str | tuple[str, str]
MIGRATIONS: list[tuple[int, str, Sequence[Statement]]] = [
    (
        1,
        "resources and their versioned history",
        [
            # Every version of every resource; `seq` orders the system history.
            """CREATE TABLE resource_history (
                seq {seq} PRIMARY KEY,
                resource_type {text} NOT NULL,
                id {text} NOT NULL,
                version INTEGER NOT NULL,
                last_updated {ts} NOT NULL,
                method TEXT NOT NULL,
                content {json},
                UNIQUE (resource_type, id, version)
            )""",
            "CREATE INDEX resource_history_time ON resource_history (last_updated, seq)",
            """CREATE INDEX resource_history_type_time
                ON resource_history (resource_type, last_updated, seq)""",
            # The current version of each resource: a pointer into the history, and the key
            # that search index rows refer to.
            """CREATE TABLE resources (
                res_key {seq} PRIMARY KEY,
                resource_type {text} NOT NULL,
                id {text} NOT NULL,
                version INTEGER NOT NULL,
                seq BIGINT NOT NULL,
                last_updated {ts} NOT NULL,
                deleted {bool} NOT NULL,
                UNIQUE (resource_type, id)
            )""",
            "CREATE INDEX resources_type_updated ON resources (resource_type, last_updated)",
        ],
    ),
    (
        2,
        "search indexes, one table per parameter type",
        [
            *_index_table("search_string", "norm {text} NOT NULL, exact TEXT NOT NULL", "norm"),
            *_index_table(
                "search_token",
                "system {text} NOT NULL, code {text}, text {text}",
                "code, system",
                "text",
            ),
            *_index_table(
                "search_reference",
                "target_type {text}, target_id {text}, target_version TEXT, url TEXT,"
                " ident_system {text}, ident_value {text}",
                "target_id, target_type",
                "ident_value",
            ),
            "CREATE INDEX search_reference_target ON search_reference (target_id, target_type)",
            *_index_table("search_date", "low {ts} NOT NULL, high {ts} NOT NULL", "low", "high"),
            *_index_table("search_number", "low {float} NOT NULL, high {float} NOT NULL", "low"),
            *_index_table(
                "search_quantity",
                "system {text} NOT NULL, code {text} NOT NULL, unit {text} NOT NULL,"
                " low {float} NOT NULL, high {float} NOT NULL",
                "low",
            ),
            *_index_table("search_uri", "uri {text} NOT NULL", "uri"),
        ],
    ),
    (3, "OAuth2 clients, signing keys, patient credentials", schema_auth.STATEMENTS),
    (4, "consent and break-glass access grants", schema_access.STATEMENTS),
    (5, "tamper-evident audit chain", schema_audit.STATEMENTS),
    (
        6,
        "planner statistics of the high-cardinality index columns (PostgreSQL)",
        [
            # With the default sample, PostgreSQL guesses ~80k distinct codes among millions
            # and so ~70 rows per code: a search OR-ing two dozen codes (a `$match` with its
            # name keys) is then planned as a walk of the whole `resources` key index in
            # order (170 ms instead of 0.4 ms). A larger sample sees the codes are rare.
            ("postgresql", f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS 2000")
            for table, column in (
                ("search_token", "code"),
                ("search_string", "norm"),
                ("search_reference", "target_id"),
            )
        ],
    ),
    (
        7,
        "partial lookup indexes: only the rows that have the looked-up value",
        [
            # Most token rows have no text (status, gender, identifiers) and most reference
            # rows no identifier; an index of only the rows that have one is smaller and
            # costs nothing to the others on write. Both databases still use these for the
            # searches that need them: `text LIKE ?` and `ident_value = ?` (or IN) imply the
            # value is not NULL (tests/integration/test_query_plans.py).
            "DROP INDEX search_token_lookup1",
            "CREATE INDEX search_token_lookup1 ON search_token (resource_type, param, text)"
            " WHERE text IS NOT NULL",
            "DROP INDEX search_reference_lookup1",
            "CREATE INDEX search_reference_lookup1 ON search_reference"
            " (resource_type, param, ident_value) WHERE ident_value IS NOT NULL",
            "DROP INDEX search_reference_target",
            "CREATE INDEX search_reference_target ON search_reference (target_id, target_type)"
            " WHERE target_id IS NOT NULL",
        ],
    ),
    (
        8,
        "JSON documents kept as text (PostgreSQL)",
        [
            # JSONB is parsed on every write and serialised again on every read; `json` keeps
            # the text, which the server sends back as it is (measured: 100 resources of
            # ~800 bytes read in 0.9 ms instead of 2.4 ms). Nothing queries inside the
            # documents: searches use the index tables. Rewrites the tables.
            (
                "postgresql",
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE JSON USING {column}::json",
            )
            for table, column in (
                ("resource_history", "content"),
                ("auth_signing_keys", "private_jwk"),
                ("auth_clients", "jwks"),
            )
        ],
    ),
    (
        9,
        "times before the year 1000 zero-padded (SQLite)",
        [
            # SQLite keeps times as text, which sorts as time only at a fixed width; years of
            # one to three digits used to be written unpadded (`800-01-01T...`), so they
            # sorted after 1000 (and open-ended ranges started at `1-01-01T...`). Only
            # clinical times and consent periods can be that old.
            (
                "sqlite",
                f"UPDATE {table} SET {column} = substr('000', 1, 5 - instr({column}, '-'))"
                f" || {column} WHERE instr({column}, '-') BETWEEN 2 AND 4",
            )
            for table, column in (
                ("search_date", "low"),
                ("search_date", "high"),
                ("access_grants", "valid_from"),
                ("access_grants", "valid_to"),
            )
        ],
    ),
    (
        10,
        "the audit trail's references kept out of the target index",
        [
            # Every access to a patient's data leaves AuditEvents that refer to the patient,
            # and `$everything` reads the patient's reference rows by target: with them in
            # this index, it would read more rows with every access, for years. AuditEvents
            # are found by (type, param, target) instead (`lookup0`); the queries that may
            # use this index say `resource_type <> 'AuditEvent'` in their text, as both
            # databases need to use a partial index (tests/integration/test_query_plans.py).
            "DROP INDEX search_reference_target",
            "CREATE INDEX search_reference_target ON search_reference (target_id, target_type)"
            " WHERE target_id IS NOT NULL AND resource_type <> 'AuditEvent'",
        ],
    ),
    (
        11,
        "positions for `near` (Location.position)",
        [
            # Indexed when written from now on; Locations stored before are found after
            # `tsunagu reindex --type Location --param near`.
            *_index_table(
                "search_position",
                "latitude {float} NOT NULL, longitude {float} NOT NULL",
                "latitude, longitude",
            ),
        ],
    ),
    (
        12,
        "dates without a time zone in Japan time, Range numbers; index rebuilds owed",
        [
            # Index rows that an upgrade changed and that must be computed again: the
            # indexer does it (`SqlRepository.reindex_type`), not SQL. The row stays until a
            # rebuild of that parameter type (or a full one) ends; `tsunagu serve` does it at
            # start-up for a small database and reminds the operator of a large one.
            """CREATE TABLE index_rebuilds (
                param_type {text} PRIMARY KEY,
                reason TEXT NOT NULL
            )""",
            # A date without a zone was the UTC day; it is the day in Japan now.
            "INSERT INTO index_rebuilds (param_type, reason) SELECT 'date',"
            " '日付 (時刻なし) を日本時間で索引します / dates without a time zone are days in"
            " Japan time (UTC+9), not UTC' WHERE EXISTS (SELECT 1 FROM search_date)",
            # A number that is a Range (RiskAssessment's probability) had no row.
            "INSERT INTO index_rebuilds (param_type, reason) SELECT 'number',"
            " '範囲の数値を索引します / numbers given as a Range are indexed'"
            " WHERE EXISTS (SELECT 1 FROM resources WHERE resource_type = 'RiskAssessment')",
        ],
    ),
    (
        13,
        "an index of the date rows that span more than a day",
        [
            # `date=ge2024-06-01&date=lt2024-06-02` asks for ranges that overlap a day:
            # `high` after its start and `low` before its end. Neither index bounds that
            # (half of every row is after a date, half before); `low` within a day of the
            # start does, for the rows that span a day or less, and the others, few
            # (periods of stays and coverage, months and years), are read from this index
            # (`search.params.date.overlapping`). Each dialect's condition is written as
            # the queries write it (`{wide_range}`), so that both use the index.
            (
                "sqlite",
                "CREATE INDEX search_date_wide ON search_date (resource_type, param, low)"
                " WHERE julianday(high) - julianday(low) > 1",
            ),
            (
                "postgresql",
                "CREATE INDEX search_date_wide ON search_date (resource_type, param, low)"
                " WHERE high - low > interval '1 day'",
            ),
            # Without statistics of the span, PostgreSQL takes a third of the rows for
            # wide and plans the few rows of a day as a merge with every resource (49 ms
            # instead of 6 at a million resources). Expression statistics: PostgreSQL 14.
            ("postgresql", "CREATE STATISTICS search_date_span ON (high - low) FROM search_date"),
        ],
    ),
    (
        14,
        "the resources of each type in key order",
        [
            # A page of a type without a criterion that drives (`Condition?_count=20`, or
            # `code:not=…`) is its first resources in key order. SQLite read every resource
            # of the type to sort them (0.1-0.4 s at a million resources), PostgreSQL walked
            # every resource in key order to find the types stored last (AuditEvents: 0.26 s).
            # An index of the type alone is in key order on SQLite (the key is the rowid).
            ("sqlite", "CREATE INDEX resources_type_key ON resources (resource_type)"),
            ("postgresql", "CREATE INDEX resources_type_key ON resources (resource_type, res_key)"),
        ],
    ),
]

LATEST = MIGRATIONS[-1][0]


def migrate(dialect: Dialect, *, target: int = LATEST) -> int:
    """Bring the schema up to `target` (the latest by default); returns how many were applied."""
    with dialect.writer() as conn:
        dialect.lock(conn, "tsunagu:migrations")
        conn.execute(
            dialect.sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at {ts} NOT NULL)"
            )
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = 0
        for version, description, statements in MIGRATIONS:
            if version in done or version > target:
                continue
            for statement in statements:
                if isinstance(statement, tuple):  # (dialect name, statement): that one only
                    only, statement = statement
                    if only != dialect.name:
                        continue
                conn.execute(dialect.sql(statement))
            conn.execute(
                dialect.sql(
                    "INSERT INTO schema_migrations (version, description, applied_at) "
                    "VALUES (?, ?, ?)"
                ),
                (version, description, dialect.encode_time(datetime.now(UTC))),
            )
            applied += 1
        return applied


def schema_version(dialect: Dialect) -> int:
    """The highest migration applied, 0 for an empty database."""
    with dialect.reader() as conn:
        try:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        except Exception:  # the table does not exist yet
            return 0
        return int(row[0] or 0)
