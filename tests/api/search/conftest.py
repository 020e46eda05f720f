"""One loaded server per storage backend, shared by all the read-only search tests.

Loading the data set takes a noticeable fraction of a second per backend, and the tests never
write, so the server is built once per test session (per xdist worker) rather than per test
or per module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON
from tests.api.search import data
from tests.api.search.support import SearchServer, put_all, search_client


def load(client: TestClient) -> str:
    """Load `data` in its three phases; returns the instant between bulk load and updates."""
    put_all(client, data.RESOURCES)
    for target in data.DELETED:
        response = client.delete(f"/fhir/{target}")
        assert response.status_code in (200, 204), response.text
    time.sleep(0.01)
    now = datetime.now(UTC)
    since = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    time.sleep(0.01)
    for resource in data.UPDATES:
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        response = client.put(url, json=resource, headers=FHIR_JSON)
        assert response.status_code == 200, response.text
        time.sleep(0.002)  # distinct lastUpdated instants, in this order
    return since


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchServer]:
    """The loaded server, once per backend."""
    with search_client(request, tmp_path_factory.mktemp("search")) as client:
        yield SearchServer(request.param, client, load(client))
