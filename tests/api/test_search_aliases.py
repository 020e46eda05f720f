"""Alias parameters through HTTP: `patient` reads the `subject` rows that name a Patient.

`Observation.patient` is `Observation.subject.where(resolve() is Patient)`: it writes no rows
(`search.aliases`), so every way of searching by it (plain, `:missing`, an external URL,
includes, `_has`, chains, compartments) must still tell a Patient subject from a Group one.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

EXTERNAL = "http://other.example/fhir/Patient/x"


def _observation(rid: str, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"text": "体温"},
        "subject": {"reference": subject},
    }


def _ids(client: TestClient, path: str) -> list[str]:
    response = client.get(f"/fhir/{path}")
    assert response.status_code == 200, response.text
    return sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in response.json().get("entry", [])
    )


def test_patient_searches_tell_a_patient_subject_from_a_group(client: TestClient) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "山田", "given": ["花子"]}, {"family": "ヤマダ", "given": ["ハナコ"]}],
    }
    group = {"resourceType": "Group", "id": "g1", "type": "person", "actual": True}
    for body in (
        patient,
        group,
        _observation("o-patient", "Patient/p1"),
        _observation("o-group", "Group/g1"),
        _observation("o-external", EXTERNAL),
    ):
        path = f"/fhir/{body['resourceType']}/{body['id']}"
        assert client.put(path, json=body).status_code == 201

    assert _ids(client, "Observation?patient=p1") == ["Observation/o-patient"]
    assert _ids(client, "Observation?patient:missing=true") == ["Observation/o-group"]
    assert _ids(client, f"Observation?patient={EXTERNAL}") == ["Observation/o-external"]
    assert len(_ids(client, "Observation?subject:missing=false")) == 3
    assert _ids(client, "Observation?patient.name=ヤマダ") == ["Observation/o-patient"]
    included = _ids(client, "Observation?_id=o-patient,o-group&_include=Observation:patient")
    assert included == ["Observation/o-group", "Observation/o-patient", "Patient/p1"]
    assert _ids(client, "Patient?_id=p1&_revinclude=Observation:patient") == [
        "Observation/o-patient",
        "Patient/p1",
    ]
    assert _ids(client, "Patient?_has:Observation:patient:status=final") == ["Patient/p1"]
    assert _ids(client, "Group?_has:Observation:patient:status=final") == []
    assert _ids(client, "Patient/p1/Observation") == ["Observation/o-patient"]
    assert _ids(client, "Patient/p1/$everything") == ["Observation/o-patient", "Patient/p1"]
    # `phonetic` reads the rows of `name` (the same expression).
    assert _ids(client, "Patient?phonetic=やまだ") == ["Patient/p1"]
