"""Open a repository from a database URL: `sqlite:///path` or `postgresql://...`."""

from __future__ import annotations

from pathlib import Path

from tsunagu.search.parameters import SearchRegistry
from tsunagu.storage.sql.repository import SqlRepository


def open_repository(url: str, registry: SearchRegistry, *, pool_size: int = 10) -> SqlRepository:
    """The repository for `url`; creates or migrates the schema as needed."""
    if url.startswith("sqlite:///"):
        from tsunagu.storage.sql.sqlite import SqliteDialect

        return SqlRepository(SqliteDialect(Path(url.removeprefix("sqlite:///"))), registry)
    if url.startswith(("postgresql://", "postgres://")):
        from tsunagu.storage.sql.postgres import PostgresDialect

        return SqlRepository(PostgresDialect(url, pool_size=pool_size), registry)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")
