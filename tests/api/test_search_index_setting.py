"""`search_index=false`: the benchmark's baseline, honoured only in insecure-dev."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from starlette.testclient import TestClient

from tests.auth_tokens import TokenFactory
from tsunagu.bootstrap import build_platform
from tsunagu.http.app import create_app
from tsunagu.security.principal import Role
from tsunagu.settings import Settings


@contextmanager
def _client(
    database_url: str, *, insecure_dev: bool
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(database_url=database_url, insecure_dev=insecure_dev, search_index=False)
    platform = build_platform(settings)
    headers = {} if insecure_dev else TokenFactory(platform).headers(Role.PHYSICIAN)
    with TestClient(create_app(platform)) as client:
        yield client, headers


@pytest.mark.parametrize("insecure_dev", [True, False])
def test_no_search_parameters_only_in_insecure_dev(database_url: str, insecure_dev: bool) -> None:
    with _client(database_url, insecure_dev=insecure_dev) as (client, headers):
        ids = {}
        for gender in ("female", "male"):
            body = {"resourceType": "Patient", "gender": gender, "name": [{"family": "索引"}]}
            created = client.post("/fhir/Patient", json=body, headers=headers)
            assert created.status_code == 201
            ids[gender] = created.json()["id"]
            assert client.get(f"/fhir/Patient/{ids[gender]}", headers=headers).status_code == 200
        strict = client.get(
            "/fhir/Patient?gender=female", headers={**headers, "prefer": "handling=strict"}
        )
        found = client.get("/fhir/Patient?gender=female", headers=headers).json()
        patients = {
            entry["resource"]["id"]
            for entry in found.get("entry", [])
            if entry["resource"]["resourceType"] == "Patient"
        }
        if insecure_dev:  # no parameters: `gender` is unknown, so refused or ignored
            assert strict.status_code == 400
            assert "gender" in strict.json()["issue"][0]["diagnostics"]
            assert patients == set(ids.values())
        else:  # the setting is ignored: indexed as always
            assert strict.status_code == 200
            assert patients == {ids["female"]}
