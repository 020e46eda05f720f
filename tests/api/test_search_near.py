"""`Location?near=`: Locations within a distance of a point, on both backends."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON
from tsunagu.cli.demo import demo_bundle

STATIONS = {
    "tokyo": (35.6812, 139.7671),
    "shinjuku": (35.6896, 139.7006),  # about 6.0 km west of Tokyo Station
    "yokohama": (35.4660, 139.6223),  # about 27 km south-west
    "osaka": (34.7025, 135.4959),  # about 400 km west
}


@pytest.fixture
def located(client: TestClient) -> TestClient:
    for rid, (latitude, longitude) in STATIONS.items():
        body = {
            "resourceType": "Location",
            "id": rid,
            "name": f"{rid} 駅前診療所",
            "position": {"latitude": latitude, "longitude": longitude},
        }
        response = client.put(f"/fhir/Location/{rid}", json=body, headers=FHIR_JSON)
        assert response.status_code == 201, response.text
    unplaced = {"resourceType": "Location", "id": "mobile", "name": "巡回診療車"}
    assert client.put("/fhir/Location/mobile", json=unplaced).status_code == 201
    return client


def _ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/fhir/Location?{query}")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert not [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def test_near_finds_the_locations_within_the_distance(located: TestClient) -> None:
    tokyo = "35.6812|139.7671"
    assert _ids(located, f"near={tokyo}|5|km") == ["tokyo"]
    assert _ids(located, f"near={tokyo}|7") == ["shinjuku", "tokyo"]  # km by default
    assert _ids(located, f"near={tokyo}|7000|m") == ["shinjuku", "tokyo"]
    assert _ids(located, f"near={tokyo}") == ["shinjuku", "tokyo"]  # 10 km by default
    assert _ids(located, f"near={tokyo}|30|km") == ["shinjuku", "tokyo", "yokohama"]
    assert _ids(located, f"near={tokyo}|500|km") == ["osaka", "shinjuku", "tokyo", "yokohama"]
    # OR-ed points, and AND-ed with another parameter.
    assert _ids(located, f"near={tokyo}|1,34.70|135.50|1") == ["osaka", "tokyo"]
    assert _ids(located, f"near={tokyo}|30&name=shinjuku") == ["shinjuku"]
    assert _ids(located, "near:missing=true") == ["mobile"]


def test_a_malformed_near_is_a_bad_request(located: TestClient) -> None:
    for value in ("35.68", "35.68|139.77|5|furlong", "135|35|5"):
        response = located.get(f"/fhir/Location?near={value}")
        assert response.status_code == 400, value
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["expression"] == ["near"]


def test_the_capability_statement_offers_near(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    location = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Location")
    assert {"name": "near", "type": "special"}.items() <= next(
        p for p in location["searchParam"] if p["name"] == "near"
    ).items()


def test_the_demo_clinic_is_found_near_tokyo_station(client: TestClient) -> None:
    response = client.post("/fhir", json=demo_bundle(), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    found = client.get("/fhir/Location?near=35.6812|139.7671|1|km").json()
    assert [e["resource"]["name"] for e in found["entry"]] == ["つなぐ内科クリニック 本院"]
    far = client.get("/fhir/Location?near=34.7025|135.4959|50|km").json()  # Osaka
    assert far.get("entry", []) == []
