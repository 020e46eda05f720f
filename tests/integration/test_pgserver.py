"""The PostgreSQL test fixtures start a real, isolated server."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.pgserver import (
    EXTERNAL_URL_ENV,
    TMPFS_ENV,
    PostgresServer,
    create_database,
    drop_database,
    start_postgres,
)

USER_TABLES = (
    "select count(*) from pg_catalog.pg_tables"
    " where schemaname not in ('pg_catalog', 'information_schema')"
)

# Databases seen by test_each_test_gets_a_fresh_database, in execution order.
_seen_databases: list[str] = []


def _scalar(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _database_exists(server: PostgresServer, name: str) -> bool:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        row = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
    return row is not None


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_database_url_is_an_empty_database(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite:"):
        assert database_url == f"sqlite:///{tmp_path}/tsunagu.db"
        return
    assert database_url.startswith("postgresql://tsunagu@")
    with psycopg.connect(database_url) as conn:
        version = _scalar(conn, "select version()")
        assert isinstance(version, str)
        assert version.startswith("PostgreSQL ")
        assert _scalar(conn, USER_TABLES) == 0
        conn.execute("create table patient (id text primary key, body jsonb not null)")
        conn.execute("insert into patient values ('p1', '{\"name\": \"山田\"}')")
        assert _scalar(conn, "select body->>'name' from patient") == "山田"
        assert _scalar(conn, "show server_encoding") == "UTF8"


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_database(
    run: int, postgres_url: str, postgres_server: PostgresServer
) -> None:
    with psycopg.connect(postgres_url) as conn:
        name = _scalar(conn, "select current_database()")
        assert isinstance(name, str)
        # A table left behind by another test would show up here.
        assert _scalar(conn, USER_TABLES) == 0
        conn.execute("create table marker (run int)")
    assert name not in _seen_databases
    for earlier in _seen_databases:
        assert not _database_exists(postgres_server, earlier), "not dropped after its test"
    _seen_databases.append(name)


def test_databases_on_one_server_are_isolated(postgres_server: PostgresServer) -> None:
    first, second = (f"t_iso_{uuid.uuid4().hex[:12]}" for _ in range(2))
    first_url = create_database(postgres_server, first)
    second_url = create_database(postgres_server, second)
    try:
        assert first_url.endswith(f"/{first}")
        with psycopg.connect(first_url) as conn:
            conn.execute("create table only_here (x int)")
        with psycopg.connect(second_url) as conn:
            assert _scalar(conn, USER_TABLES) == 0
            assert _scalar(conn, "select current_database()") == second
    finally:
        drop_database(postgres_server, first)
        drop_database(postgres_server, second)
    assert not _database_exists(postgres_server, first)
    assert not _database_exists(postgres_server, second)


def test_drop_database_disconnects_sessions(postgres_server: PostgresServer) -> None:
    name = f"t_busy_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_server, name)
    with psycopg.connect(url) as conn:
        drop_database(postgres_server, name)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
    assert not _database_exists(postgres_server, name)
    drop_database(postgres_server, name)  # dropping twice is harmless


def test_invalid_database_names_are_rejected(postgres_server: PostgresServer) -> None:
    for bad in ("", "Upper", "drop; table", "x" * 64, "1abc"):
        with pytest.raises(ValueError, match="test database names"):
            create_database(postgres_server, bad)


@pytest.mark.skipif(bool(os.environ.get(EXTERNAL_URL_ENV)), reason="external server")
def test_server_never_runs_as_root(postgres_server: PostgresServer) -> None:
    assert postgres_server.data_dir is not None
    with psycopg.connect(postgres_server.url) as conn:
        assert _scalar(conn, "show data_directory") == str(postgres_server.data_dir)
        assert _scalar(conn, "show fsync") == "off"
        assert _scalar(conn, "show listen_addresses") == "127.0.0.1"
    pid = int((postgres_server.data_dir / "postmaster.pid").read_text().split()[0])
    status = Path(f"/proc/{pid}/status").read_text()
    real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert real_uid != 0
    if os.geteuid() == 0:
        assert postgres_server.data_dir.stat().st_uid == real_uid
    else:
        assert real_uid == os.geteuid()


@pytest.mark.skipif(bool(os.environ.get(EXTERNAL_URL_ENV)), reason="external server")
def test_stop_shuts_down_and_removes_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Also covers keeping the cluster on disk rather than in /dev/shm.
    monkeypatch.setenv(TMPFS_ENV, "0")
    server = start_postgres(tmp_path / "second")
    try:
        assert server.port is not None
        assert server.data_dir is not None
        assert server.url == f"postgresql://tsunagu@127.0.0.1:{server.port}/postgres"
        assert _port_open(server.port)
        cluster_files = server.data_dir.parent
        assert not str(cluster_files).startswith("/dev/shm/")
    finally:
        server.stop()
    assert not _port_open(server.port)
    assert not cluster_files.exists()
    server.stop()  # idempotent


def test_external_server_from_environment(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EXTERNAL_URL_ENV, postgres_server.url)
    external = start_postgres(tmp_path)
    assert external.external
    assert external.url == external.admin_url == postgres_server.url
    name = f"t_ext_{uuid.uuid4().hex[:12]}"
    url = create_database(external, name)
    try:
        with psycopg.connect(url) as conn:
            assert _scalar(conn, "select current_database()") == name
    finally:
        drop_database(external, name)
    external.stop()  # must not stop the shared server
    with psycopg.connect(postgres_server.url) as conn:
        assert _scalar(conn, "select 1") == 1
