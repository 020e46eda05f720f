"""An HTTP client on a fresh server per test, once per storage backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.auth_tokens import TokenFactory
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.http.app import create_app
from tsunagu.settings import Settings

FHIR_JSON = {"content-type": "application/fhir+json"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    platform = build_platform(Settings(database_url=database_url, insecure_dev=True))
    with TestClient(create_app(platform)) as test_client:
        yield test_client


@pytest.fixture
def secure_platform(database_url: str) -> Iterator[Platform]:
    """The platform behind `secure_client` (authentication on), for direct store access."""
    platform = build_platform(Settings(database_url=database_url))
    try:
        yield platform
    finally:
        platform.close()  # idempotent: the app's lifespan may have closed it already


@pytest.fixture
def secure_client(secure_platform: Platform) -> Iterator[TestClient]:
    """A TestClient of an app WITHOUT --insecure-dev (every request but /fhir/metadata,
    /fhir/.well-known/smart-configuration and /auth/* needs a Bearer token), once per
    storage backend. Pair it with `auth` for tokens that this server accepts."""
    with TestClient(create_app(secure_platform)) as test_client:
        yield test_client


@pytest.fixture
def auth(secure_platform: Platform) -> TokenFactory:
    """Tokens signed with the real server key of `secure_client`'s app.

    `auth.headers(role, facility="1318814790", patient=None, scopes=None, **more)` ->
    `{"authorization": "Bearer <jwt>"}`; `auth.token(...)` -> the JWT alone. `role` is a
    `Role` or its value; `scopes=None` gives the role's default (`patient/*.rs` for a
    patient, `system/*.cruds` for system, else `user/*.cruds`); pass a space-separated
    string to choose. More keywords: `subject`, `client_id`, `minutes` (lifetime),
    `audience` (default http://testserver/fhir). See tests/auth_tokens.py.
    """
    return TokenFactory(secure_platform)


def patient(family: str = "山田", **extra: Any) -> dict[str, Any]:
    """A small Patient resource for tests."""
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def observation(subject: str, *performers: str, text: str = "監査", **extra: Any) -> dict[str, Any]:
    """A final Observation of the patient `subject`, performed by the patients `performers`."""
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": text},
        "subject": {"reference": f"Patient/{subject}"},
        **extra,
    }
    if performers:
        body["performer"] = [{"reference": f"Patient/{p}"} for p in performers]
    return body
