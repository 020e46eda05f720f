"""Searches and histories send stored resources as the text the server stored, unparsed,
unless the request reshapes them (`_elements`, `_summary`) or asks for `_pretty` output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, observation, patient
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.fhir.jsonio import StoredObject
from tsunagu.http.app import create_app
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.settings import Settings


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[TestClient, Platform]]:
    platform = build_platform(Settings(database_url=database_url, insecure_dev=True))
    with TestClient(create_app(platform)) as client:
        yield client, platform


def _observation(subject: str, *performers: str) -> dict[str, Any]:
    quantity = {"value": 5.40, "unit": "mmol/L"}
    return observation(subject, *performers, text="血糖", valueQuantity=quantity)


def _stored_text(platform: Platform, resource_type: str, id: str) -> str:
    stored = platform.repository.read(resource_type, id)
    assert stored is not None
    assert stored.text is not None
    return stored.text


def test_search_and_history_send_the_stored_text(
    served: tuple[TestClient, Platform],
) -> None:
    client, platform = served
    pid = client.post("/fhir/Patient", json=patient("鈴木"), headers=FHIR_JSON).json()["id"]
    body = json.dumps(_observation(pid)).replace("5.4", "5.40")  # digits kept as written
    created = client.post("/fhir/Observation", content=body, headers=FHIR_JSON)
    oid = created.json()["id"]
    text = _stored_text(platform, "Observation", oid)
    assert '"value":5.40' in text

    for url in (f"/fhir/Observation?subject=Patient/{pid}", f"/fhir/Observation/{oid}/_history"):
        response = client.get(url)
        assert response.status_code == 200
        assert text.encode() in response.content, url
        (entry,) = response.json()["entry"]
        assert entry["resource"]["valueQuantity"]["value"] == 5.4

    pretty = client.get(f"/fhir/Observation?subject=Patient/{pid}&_pretty=true")
    assert text.encode() not in pretty.content
    assert b'\n        "resourceType": "Observation",\n' in pretty.content
    assert json.loads(pretty.content, parse_float=Decimal)["entry"][0]["resource"] == json.loads(
        text, parse_float=Decimal
    )

    shaped = client.get(f"/fhir/Observation?subject=Patient/{pid}&_elements=status")
    (entry,) = shaped.json()["entry"]
    assert "valueQuantity" not in entry["resource"]
    assert entry["resource"]["status"] == "final"


def test_an_audited_search_parses_only_what_the_access_facts_do_not_tell(
    served: tuple[TestClient, Platform],
) -> None:
    client, platform = served
    a, b = (
        client.post("/fhir/Patient", json=patient(n), headers=FHIR_JSON).json()["id"]
        for n in ("一", "二")
    )
    alone = client.post("/fhir/Observation", json=_observation(a), headers=FHIR_JSON)
    shared = client.post("/fhir/Observation", json=_observation(a, b), headers=FHIR_JSON)
    ctx = platform.context("http://testserver/fhir", audited=True)
    response = dispatch(ctx, FhirRequest("GET", "Observation", query=(("code:text", "血糖"),)))
    assert response.resource is not None
    resources = {e["resource"]["id"]: e["resource"] for e in response.resource["entry"]}
    # Reading the ids above parsed every entry: ask again, and look before touching them.
    response = dispatch(ctx, FhirRequest("GET", "Observation", query=(("code:text", "血糖"),)))
    assert response.resource is not None
    entries = {e["fullUrl"].rsplit("/", 1)[1]: e["resource"] for e in response.resource["entry"]}
    assert set(entries) == set(resources) == {alone.json()["id"], shared.json()["id"]}
    assert all(isinstance(r, StoredObject) for r in entries.values())
    # The audit named the one-patient Observation's patient from the access facts, and read
    # the shared one (its patients are not in the facts alone).
    assert not entries[alone.json()["id"]].parsed
    assert entries[shared.json()["id"]].parsed


def test_searches_inside_bundles_send_their_resources(
    served: tuple[TestClient, Platform],
) -> None:
    client, _ = served
    search = {"request": {"method": "GET", "url": "Patient?family=読売"}}
    write = {
        "resource": patient("読売", id="b1"),
        "request": {"method": "PUT", "url": "Patient/b1"},
    }
    # The transaction's search runs after its write (GETs go last), in the same session.
    for kind, entries in (("transaction", [search, write]), ("batch", [search])):
        body = {"resourceType": "Bundle", "type": kind, "entry": entries}
        response = client.post("/fhir", json=body, headers=FHIR_JSON)
        assert response.status_code == 200, response.text
        found = response.json()["entry"][0]["resource"]
        assert found["resourceType"] == "Bundle"
        assert [e["resource"]["id"] for e in found["entry"]] == ["b1"], kind
        assert found["entry"][0]["resource"]["name"] == [{"family": "読売"}]
