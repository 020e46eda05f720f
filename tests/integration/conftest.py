"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tsunagu.fhir.definitions import load_definitions
from tsunagu.search.parameters import SearchRegistry
from tsunagu.storage.sql.connect import open_repository
from tsunagu.storage.sql.repository import SqlRepository


@pytest.fixture
def repo(database_url: str) -> Iterator[SqlRepository]:
    """A SQL repository on an empty database, once per backend."""
    repository = open_repository(database_url, SearchRegistry(load_definitions()))
    assert isinstance(repository, SqlRepository)
    yield repository
    repository.close()
