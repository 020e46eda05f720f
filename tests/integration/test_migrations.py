"""A database upgraded one migration at a time ends up the same as a fresh one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tsunagu.fhir.definitions import load_definitions
from tsunagu.search.parameters import SearchRegistry
from tsunagu.storage.sql.dialect import Dialect
from tsunagu.storage.sql.migrations import LATEST, MIGRATIONS, migrate, schema_version
from tsunagu.storage.sql.repository import SqlRepository


def _dialect(url: str) -> Dialect:
    if url.startswith("sqlite:///"):
        from pathlib import Path

        from tsunagu.storage.sql.sqlite import SqliteDialect

        return SqliteDialect(Path(url.removeprefix("sqlite:///")))
    from tsunagu.storage.sql.postgres import PostgresDialect

    return PostgresDialect(url, pool_size=2)


def _schema(dialect: Dialect) -> list[Any]:
    """Tables, columns and indexes, in a comparable form."""
    with dialect.reader() as conn:
        if dialect.name == "sqlite":
            rows = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                " ORDER BY type, name"
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, collation_name"
                " FROM information_schema.columns WHERE table_schema = 'public'"
                " ORDER BY table_name, column_name"
            ).fetchall()
            rows += conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                " ORDER BY indexname"
            ).fetchall()
    return [tuple(row) for row in rows]


def test_step_by_step_upgrade_equals_fresh(database_url: str, tmp_path: Any) -> None:
    upgraded = _dialect(database_url)
    try:
        for version, _, _ in MIGRATIONS:
            assert migrate(upgraded, target=version) == 1
            assert schema_version(upgraded) == version
        assert migrate(upgraded) == 0
        upgraded_schema = _schema(upgraded)
    finally:
        upgraded.close()
    sqlite = database_url.startswith("sqlite")
    fresh_url = f"sqlite:///{tmp_path}/fresh.db" if sqlite else _fresh_pg_database(database_url)
    fresh = _dialect(fresh_url)
    try:
        assert migrate(fresh) == LATEST
        assert _schema(fresh) == upgraded_schema
    finally:
        fresh.close()
        if not sqlite:
            _drop_pg_database(fresh_url)


def _fresh_pg_database(url: str) -> str:
    import psycopg

    base, name = url.rsplit("/", 1)
    fresh = f"{name}_fresh"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{fresh}"')
    return f"{base}/{fresh}"


def _drop_pg_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}"')


def test_repository_opens_on_an_older_schema_and_upgrades(database_url: str) -> None:
    dialect = _dialect(database_url)
    migrate(dialect, target=1)
    repository = SqlRepository(dialect, SearchRegistry(load_definitions()))
    try:
        assert schema_version(dialect) == LATEST
        with repository.session() as session:
            session.save("Patient", "m1", {"resourceType": "Patient"}, method="PUT", previous=None)
        assert repository.read("Patient", "m1") is not None
    finally:
        repository.close()


def test_postgresql_samples_the_high_cardinality_columns_more(database_url: str) -> None:
    dialect = _dialect(database_url)
    try:
        migrate(dialect)
        assert schema_version(dialect) == LATEST
        if dialect.name != "postgresql":
            return  # the statements of migration 6 are PostgreSQL's only
        with dialect.reader() as conn:
            rows = conn.execute(
                "SELECT c.relname, a.attname, a.attstattarget FROM pg_attribute a"
                " JOIN pg_class c ON c.oid = a.attrelid"
                " WHERE c.relname IN ('search_token', 'search_string', 'search_reference')"
                " AND a.attname IN ('code', 'norm', 'target_id') ORDER BY c.relname"
            ).fetchall()
        assert [tuple(row) for row in rows] == [
            ("search_reference", "target_id", 2000),
            ("search_string", "norm", 2000),
            ("search_token", "code", 2000),
        ]
    finally:
        dialect.close()


def test_postgresql_documents_from_jsonb_become_text(database_url: str) -> None:
    """A database of before migration 8 (documents as JSONB) upgrades to JSON text: its
    resources read back whole, in the usual key order, and new ones are stored as sent."""
    if not database_url.startswith("postgresql"):
        return  # SQLite keeps JSON as text from the start
    dialect = _dialect(database_url)
    repository: SqlRepository | None = None
    try:
        migrate(dialect, target=7)
        with dialect.writer() as conn:  # the column as migration 1 created it before
            conn.execute("ALTER TABLE resource_history ALTER COLUMN content TYPE JSONB")
        old = {"resourceType": "Patient", "id": "old", "gender": "female", "active": True}
        with SqlRepository(dialect, SearchRegistry(load_definitions())).session() as session:
            session.save("Patient", "old", old, method="PUT", previous=None)
        dialect.close()
        dialect = _dialect(database_url)
        repository = SqlRepository(dialect, SearchRegistry(load_definitions()))  # migrates
        with dialect.reader() as conn:
            kind = conn.execute(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = 'resource_history' AND column_name = 'content'"
            ).fetchone()
        assert kind is not None
        assert kind[0] == "json"
        stored = repository.read("Patient", "old")
        assert stored is not None
        assert stored.content is not None
        assert list(stored.content)[:2] == ["resourceType", "id"]
        assert {k: v for k, v in stored.content.items() if k != "meta"} == old
        new = {"resourceType": "Patient", "id": "new", "birthDate": "1970-01-01"}
        with repository.session() as session:
            session.save("Patient", "new", new, method="PUT", previous=None)
        with dialect.reader() as conn:
            text = conn.execute(
                "SELECT content::text FROM resource_history WHERE id = 'new'"
            ).fetchone()
        assert text is not None
        assert text[0].startswith('{"resourceType":"Patient","id":"new"')
    finally:
        if repository is not None:
            repository.close()
        dialect.close()


def test_sqlite_times_before_the_year_1000_are_padded(database_url: str) -> None:
    """Times that migration 9 finds written unpadded (`800-...`) become fixed-width text;
    four-digit years are left alone."""
    if not database_url.startswith("sqlite"):
        return  # PostgreSQL stores times as timestamptz
    dialect = _dialect(database_url)
    try:
        migrate(dialect, target=8)
        old = [
            ("1-01-01T00:00:00.000000+00:00", "800-05-06T00:00:00.000000+00:00"),
            ("50-01-01T00:00:00.000000+00:00", "2024-06-11T00:00:00.000000+00:00"),
        ]
        with dialect.writer() as conn:
            for low, high in old:
                conn.execute(
                    "INSERT INTO search_date (res_key, resource_type, param, low, high)"
                    " VALUES (1, 'Observation', 'date', ?, ?)",
                    (low, high),
                )
        migrate(dialect)
        with dialect.reader() as conn:
            rows = conn.execute("SELECT low, high FROM search_date ORDER BY low").fetchall()
        assert [tuple(row) for row in rows] == [
            ("0001-01-01T00:00:00.000000+00:00", "0800-05-06T00:00:00.000000+00:00"),
            ("0050-01-01T00:00:00.000000+00:00", "2024-06-11T00:00:00.000000+00:00"),
        ]
    finally:
        dialect.close()


def test_an_upgrade_across_migration_12_owes_a_rebuild_of_date_rows_if_it_has_any(
    database_url: str,
) -> None:
    """Dates without a zone became days in Japan time, and Range numbers got rows: a database
    with date rows, or RiskAssessments, records the rebuilds it owes (`index_rebuilds`, done
    by `SqlRepository.reindex_type`); an empty one owes nothing."""
    dialect = _dialect(database_url)
    try:
        migrate(dialect, target=11)
        assert migrate(dialect, target=12) == 1
        with dialect.reader() as conn:
            assert conn.execute("SELECT param_type FROM index_rebuilds").fetchall() == []
        with dialect.writer() as conn:
            conn.execute("DROP TABLE index_rebuilds")
            conn.execute("DELETE FROM schema_migrations WHERE version = 12")
            conn.execute(
                dialect.sql(
                    "INSERT INTO search_date (res_key, resource_type, param, grp, low, high)"
                    " VALUES (1, 'Patient', 'birthdate', NULL, ?, ?)"
                ),
                (
                    dialect.encode_time(datetime(1975, 3, 1, tzinfo=UTC)),
                    dialect.encode_time(datetime(1975, 3, 2, tzinfo=UTC)),
                ),
            )
            conn.execute(
                dialect.sql(
                    "INSERT INTO resources (resource_type, id, version, seq, last_updated, deleted)"
                    " VALUES ('RiskAssessment', 'r1', 1, 1, ?, ?)"
                ),
                (dialect.encode_time(datetime(2026, 1, 1, tzinfo=UTC)), False),
            )
        assert migrate(dialect, target=12) == 1
        with dialect.reader() as conn:
            rows = conn.execute(
                "SELECT param_type, reason FROM index_rebuilds ORDER BY param_type"
            ).fetchall()
        [(date_type, date_reason), (number_type, number_reason)] = rows
        assert (date_type, number_type) == ("date", "number")
        assert "Japan time" in date_reason
        assert "Range" in number_reason
    finally:
        dialect.close()
