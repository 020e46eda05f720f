"""Versioned schema migrations, applied automatically at start-up.

Each migration is a list of statements written once for both dialects, with `{ts}`, `{json}`,
`{seq}`, `{bool}` and `{text}` standing for the dialect's types (`{text}` sorts by bytes on
both databases, so ids order alike). Migrations run in one transaction under
a lock, so concurrent workers starting together apply each exactly once, and a fresh database
and an upgraded one end up the same (`tests/integration/test_migrations.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tsunagu.storage.sql.dialect import Dialect

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "resources, versioned history, identifier index",
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
            # The current version of each resource: a pointer into the history.
            """CREATE TABLE resources (
                resource_type {text} NOT NULL,
                id {text} NOT NULL,
                version INTEGER NOT NULL,
                seq BIGINT NOT NULL,
                deleted {bool} NOT NULL,
                PRIMARY KEY (resource_type, id)
            )""",
            # Identifiers of current versions, for conditional interactions.
            """CREATE TABLE resource_identifiers (
                resource_type {text} NOT NULL,
                id {text} NOT NULL,
                system {text} NOT NULL,
                value {text} NOT NULL
            )""",
            """CREATE INDEX resource_identifiers_value
                ON resource_identifiers (resource_type, value, system)""",
            "CREATE INDEX resource_identifiers_owner ON resource_identifiers (resource_type, id)",
        ],
    ),
]

LATEST = MIGRATIONS[-1][0]


def migrate(dialect: Dialect) -> int:
    """Bring the schema up to date; returns the number of migrations applied."""
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
            if version in done:
                continue
            for statement in statements:
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
