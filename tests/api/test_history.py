"""history at instance, type and system level, with _since, _at and _count paging."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient


def _put(client: TestClient, rtype: str, rid: str, **extra: object) -> dict[str, object]:
    body = {"resourceType": rtype, "id": rid, **extra}
    response = client.put(f"/fhir/{rtype}/{rid}", json=body, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text
    result: dict[str, object] = response.json()
    return result


def _follow(client: TestClient, url: str) -> list[dict[str, Any]]:
    """Every entry of a history, following next links."""
    entries: list[dict[str, Any]] = []
    pages = 0
    while url and pages < 100:
        parts = urlsplit(url)
        bundle = client.get(f"{parts.path}?{parts.query}").json()
        assert bundle["type"] == "history"
        entries.extend(bundle.get("entry", []))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), "")
        pages += 1
    return entries


def test_instance_history_newest_first(client: TestClient) -> None:
    for gender in ("male", "female", "other"):
        _put(client, "Patient", "h1", gender=gender)
    client.delete("/fhir/Patient/h1")
    bundle = client.get("/fhir/Patient/h1/_history").json()
    entries = bundle["entry"]
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert "resource" not in entries[0]
    assert entries[0]["request"] == {"method": "DELETE", "url": "Patient/h1"}
    assert entries[1]["resource"]["gender"] == "other"
    assert entries[3]["response"]["status"] == "201 Created"
    assert client.get("/fhir/Patient/nobody/_history").status_code == 404


def test_type_and_system_history(client: TestClient) -> None:
    _put(client, "Patient", "h2")
    _put(client, "Observation", "o2", status="final", code={"text": "x"})
    _put(client, "Patient", "h2", gender="male")
    types = client.get("/fhir/Patient/_history").json()
    assert {e["resource"]["resourceType"] for e in types["entry"]} == {"Patient"}
    assert len(types["entry"]) == 2
    system = client.get("/fhir/_history").json()
    kinds = [e["resource"]["resourceType"] for e in system["entry"]]
    # Every request also left its AuditEvent, which system history lists like any resource.
    assert [k for k in kinds if k != "AuditEvent"] == ["Patient", "Observation", "Patient"]


def test_count_pages_through_everything_once(client: TestClient) -> None:
    for i in range(7):
        _put(client, "Patient", f"pg{i}")
    entries = _follow(client, "http://testserver/fhir/Patient/_history?_count=3")
    ids = [e["resource"]["id"] for e in entries]
    assert ids == [f"pg{i}" for i in reversed(range(7))]
    first = client.get("/fhir/Patient/_history?_count=3").json()
    assert len(first["entry"]) == 3
    assert client.get("/fhir/_history?_count=-1").status_code == 400
    assert client.get("/fhir/_history?_count=abc").status_code == 400
    assert "entry" not in client.get("/fhir/_history?_count=0").json()


def test_since(client: TestClient) -> None:
    _put(client, "Patient", "s1")
    time.sleep(0.01)
    marker = client.get("/fhir/Patient/s1").json()["meta"]["lastUpdated"]
    time.sleep(0.01)
    _put(client, "Patient", "s2")
    after = client.get(f"/fhir/Patient/_history?_since={quote(marker)}").json()
    assert [e["resource"]["id"] for e in after["entry"]] == ["s2", "s1"]
    later = client.get("/fhir/Patient/_history?_since=2999-01-01T00:00:00Z").json()
    assert "entry" not in later
    bad = client.get("/fhir/Patient/_history?_since=yesterday")
    assert bad.status_code == 400
    assert "_since" in bad.json()["issue"][0]["diagnostics"]


def test_at_returns_version_current_then(client: TestClient) -> None:
    _put(client, "Patient", "a1", gender="male")
    time.sleep(0.01)
    between = client.get("/fhir/Patient/a1").json()["meta"]["lastUpdated"]
    time.sleep(0.01)
    _put(client, "Patient", "a1", gender="female")
    at = client.get(f"/fhir/Patient/a1/_history?_at={quote(between)}").json()
    assert [e["resource"]["gender"] for e in at["entry"]] == ["male"]
    now = client.get("/fhir/Patient/a1/_history?_at=2999").json()
    assert [e["resource"]["gender"] for e in now["entry"]] == ["female"]
    assert client.get("/fhir/Patient/a1/_history?_at=2024-13").status_code == 400


def test_history_applies_summary(client: TestClient) -> None:
    _put(client, "Patient", "sm1", photo=[{"contentType": "image/png"}], gender="male")
    entry = client.get("/fhir/Patient/sm1/_history?_summary=true").json()["entry"][0]
    assert "photo" not in entry["resource"]
    assert entry["resource"]["gender"] == "male"


def test_search_by_id_and_identifier(client: TestClient) -> None:
    system = "urn:oid:1.2.392.100495.20.3.51.11312345678"
    for i in range(3):
        body = patient(identifier=[{"system": system, "value": f"v{i}"}], id=f"sr{i}")
        client.put(f"/fhir/Patient/sr{i}", json=body, headers=FHIR_JSON)
    found = client.get(f"/fhir/Patient?identifier={system}|v1").json()
    assert found["type"] == "searchset"
    assert [e["resource"]["id"] for e in found["entry"]] == ["sr1"]
    by_value = client.get("/fhir/Patient?identifier=v2").json()
    assert [e["resource"]["id"] for e in by_value["entry"]] == ["sr2"]
    by_id = client.get("/fhir/Patient?_id=sr0,sr2").json()
    assert [e["resource"]["id"] for e in by_id["entry"]] == ["sr0", "sr2"]
    count = client.get("/fhir/Patient?_summary=count").json()
    assert count["total"] == 3
    lenient = client.get("/fhir/Patient?_id=sr0&foo=x").json()
    modes = [e["search"]["mode"] for e in lenient["entry"]]
    assert modes == ["match", "outcome"]
    strict = client.get("/fhir/Patient?foo=x", headers={"prefer": "handling=strict"})
    assert strict.status_code == 400
    posted = client.post(
        "/fhir/Patient/_search",
        content=b"_id=sr1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ).json()
    assert [e["resource"]["id"] for e in posted["entry"]] == ["sr1"]
