"""read and vread over HTTP, with _summary, _elements, _format and conditional reads."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient


def _create(client: TestClient, body: dict[str, object]) -> str:
    response = client.post(f"/fhir/{body['resourceType']}", json=body, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    rid: str = response.json()["id"]
    return rid


def test_read_returns_current_version_with_headers(client: TestClient) -> None:
    pid = _create(client, patient(gender="female"))
    response = client.get(f"/fhir/Patient/{pid}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"].endswith(" GMT")
    body = response.json()
    assert body["id"] == pid
    assert body["gender"] == "female"
    assert body["meta"]["versionId"] == "1"
    assert list(body)[:3] == ["resourceType", "id", "meta"]


def test_read_unknown_is_404_with_outcome(client: TestClient) -> None:
    response = client.get("/fhir/Patient/does-not-exist")
    assert response.status_code == 404
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"
    assert "Patient/does-not-exist" in outcome["issue"][0]["diagnostics"]


def test_read_invalid_id_is_400(client: TestClient) -> None:
    response = client.get("/fhir/Patient/" + "x" * 65)
    assert response.status_code == 400
    assert response.json()["issue"][0]["severity"] == "error"


def test_unknown_resource_type_is_404(client: TestClient) -> None:
    response = client.get("/fhir/Patinet/1")
    assert response.status_code == 404
    assert "Patinet" in response.json()["issue"][0]["diagnostics"]


def test_deleted_resource_is_410_and_old_versions_stay_readable(client: TestClient) -> None:
    pid = _create(client, patient())
    assert client.delete(f"/fhir/Patient/{pid}").status_code == 204
    gone = client.get(f"/fhir/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.headers["etag"] == 'W/"2"'
    assert client.get(f"/fhir/Patient/{pid}/_history/1").status_code == 200
    assert client.get(f"/fhir/Patient/{pid}/_history/2").status_code == 410


def test_vread_each_version(client: TestClient) -> None:
    pid = _create(client, patient("一"))
    client.put(f"/fhir/Patient/{pid}", json=patient("二", id=pid), headers=FHIR_JSON)
    first = client.get(f"/fhir/Patient/{pid}/_history/1").json()
    second = client.get(f"/fhir/Patient/{pid}/_history/2").json()
    assert first["name"][0]["family"] == "一"
    assert second["name"][0]["family"] == "二"
    assert client.get(f"/fhir/Patient/{pid}/_history/3").status_code == 404
    assert client.get(f"/fhir/Patient/{pid}/_history/x").status_code == 400


def test_if_none_match_gives_304(client: TestClient) -> None:
    pid = _create(client, patient())
    response = client.get(f"/fhir/Patient/{pid}", headers={"if-none-match": 'W/"1"'})
    assert response.status_code == 304
    assert response.content == b""
    other = client.get(f"/fhir/Patient/{pid}", headers={"if-none-match": 'W/"7"'})
    assert other.status_code == 200


def test_if_modified_since(client: TestClient) -> None:
    pid = _create(client, patient())
    last_modified = client.get(f"/fhir/Patient/{pid}").headers["last-modified"]
    same = client.get(f"/fhir/Patient/{pid}", headers={"if-modified-since": last_modified})
    assert same.status_code == 304
    older = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (
        client.get(f"/fhir/Patient/{pid}", headers={"if-modified-since": older}).status_code == 200
    )


def test_summary_true_keeps_summary_elements_and_tags_subsetted(client: TestClient) -> None:
    pid = _create(
        client,
        patient(
            birthDate="1970-01-01",
            photo=[{"contentType": "image/png", "data": "AAAA"}],
            text={
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
            },
        ),
    )
    body = client.get(f"/fhir/Patient/{pid}?_summary=true").json()
    assert "photo" not in body
    assert "text" not in body
    assert body["birthDate"] == "1970-01-01"
    assert any(tag["code"] == "SUBSETTED" for tag in body["meta"]["tag"])
    data = client.get(f"/fhir/Patient/{pid}?_summary=data").json()
    assert "text" not in data
    assert "photo" in data
    text = client.get(f"/fhir/Patient/{pid}?_summary=text").json()
    assert set(text) <= {"resourceType", "id", "meta", "text"}
    full = client.get(f"/fhir/Patient/{pid}?_summary=false").json()
    assert "photo" in full
    assert "tag" not in full["meta"]


def test_invalid_summary_is_400(client: TestClient) -> None:
    pid = _create(client, patient())
    response = client.get(f"/fhir/Patient/{pid}?_summary=maybe")
    assert response.status_code == 400
    assert "_summary" in response.json()["issue"][0]["diagnostics"]


def test_elements_selects_top_level_elements(client: TestClient) -> None:
    pid = _create(client, patient(gender="male", birthDate="1980-02-02"))
    body = client.get(f"/fhir/Patient/{pid}?_elements=gender").json()
    assert body["gender"] == "male"
    assert "birthDate" not in body
    assert "name" not in body
    assert body["id"] == pid


def test_format_and_pretty(client: TestClient) -> None:
    pid = _create(client, patient())
    pretty = client.get(f"/fhir/Patient/{pid}?_pretty=true&_format=json")
    assert pretty.status_code == 200
    assert b"\n  " in pretty.content
    xml = client.get(f"/fhir/Patient/{pid}?_format=xml")
    assert xml.status_code == 406
    assert xml.json()["issue"][0]["code"] == "not-supported"
    accept_xml = client.get(f"/fhir/Patient/{pid}", headers={"accept": "application/fhir+xml"})
    assert accept_xml.status_code == 406
    nonsense = client.get(f"/fhir/Patient/{pid}?_format=yaml")
    assert nonsense.status_code == 400


def test_head_has_headers_and_no_body(client: TestClient) -> None:
    pid = _create(client, patient())
    response = client.head(f"/fhir/Patient/{pid}")
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    assert response.content == b""


def test_unknown_path_and_method(client: TestClient) -> None:
    assert client.get("/fhir/Patient/1/foo/bar").status_code == 404
    response = client.request("DELETE", "/fhir/metadata")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert client.get("/fhir/$nothing").status_code == 400
