"""An HTTP client on a fresh server per test, once per storage backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tsunagu.bootstrap import build_platform
from tsunagu.http.app import create_app
from tsunagu.settings import Settings

FHIR_JSON = {"content-type": "application/fhir+json"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    platform = build_platform(Settings(database_url=database_url, insecure_dev=True))
    with TestClient(create_app(platform)) as test_client:
        yield test_client


def patient(family: str = "山田", **extra: Any) -> dict[str, Any]:
    """A small Patient resource for tests."""
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}
