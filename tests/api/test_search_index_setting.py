"""`search_index=false`: the benchmark's baseline, honoured only in insecure-dev."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from starlette.testclient import TestClient

from tests.auth_tokens import TokenFactory
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.http.app import create_app
from tsunagu.security.principal import Role
from tsunagu.settings import Settings


@contextmanager
def _client(
    database_url: str, *, insecure_dev: bool
) -> Iterator[tuple[TestClient, dict[str, str], Platform]]:
    settings = Settings(database_url=database_url, insecure_dev=insecure_dev, search_index=False)
    platform = build_platform(settings)
    headers = {} if insecure_dev else TokenFactory(platform).headers(Role.PHYSICIAN)
    with TestClient(create_app(platform)) as client:
        yield client, headers, platform


@pytest.mark.parametrize("insecure_dev", [True, False])
def test_no_index_rows_only_in_insecure_dev(database_url: str, insecure_dev: bool) -> None:
    with _client(database_url, insecure_dev=insecure_dev) as (client, headers, _):
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
        assert strict.status_code == 200  # the parameter is known either way
        patients = {
            entry["resource"]["id"]
            for entry in strict.json().get("entry", [])
            if entry["resource"]["resourceType"] == "Patient"
        }
        if insecure_dev:  # nothing was indexed, so nothing is found
            assert patients == set()
        else:  # the setting is ignored: indexed as always
            assert patients == {ids["female"]}


def test_without_index_rows_the_audit_still_names_the_patient(database_url: str) -> None:
    """Only the index rows go: the baseline still finds a resource's patient from the
    compartment's parameters, for its access facts and its AuditEvent."""
    with _client(database_url, insecure_dev=True) as (client, _, platform):
        pid = client.post("/fhir/Patient", json={"resourceType": "Patient"}).json()["id"]
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "体温"},
            "subject": {"reference": f"Patient/{pid}"},
        }
        assert client.post("/fhir/Observation", json=observation).status_code == 201
        trail = platform.audit_trail
        assert trail is not None
        trail.flush()
        _, event = trail.entries(after=0)[-1]
        named = [e["what"].get("reference") for e in event.get("entity", [])]
        assert f"Patient/{pid}" in named
        assert any(str(n).startswith("Observation/") for n in named)
