"""Shared fixtures: a real PostgreSQL server and per-test database URLs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.pgserver import PostgresServer, create_database, drop_database, start_postgres

# CI runs on 2 shared cores: judge properties, not how fast examples are generated.
settings.register_profile("tsunagu", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tsunagu")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server per test session (per xdist worker)."""
    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:30]
    name = f"t_{slug}_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_server, name)
    try:
        yield url
    finally:
        drop_database(postgres_server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database, once per storage backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tsunagu.db"
    # Resolved lazily so that running only the sqlite variants needs no server.
    url: str = request.getfixturevalue("postgres_url")
    return url
