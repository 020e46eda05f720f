"""Patient/$match (IHE PDQm) over HTTP, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tsunagu.identity.synthetic.population import Population, patient_resource

FHIR_JSON = {"content-type": "application/fhir+json"}
GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
IDE = {
    "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
    "valueCode": "IDE",
}
SYL = {
    "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
    "valueCode": "SYL",
}


def _patient(
    pid: str,
    kanji: tuple[str, str],
    kana: tuple[str, str],
    born: str,
    sex: str,
    postal: str = "100-0005",
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [
            {"extension": [IDE], "family": kanji[0], "given": [kanji[1]]},
            {"extension": [SYL], "family": kana[0], "given": [kana[1]]},
        ],
        "gender": sex,
        "birthDate": born,
        "address": [{"text": "東京都千代田区丸の内1-2-3", "postalCode": postal}],
    }


PEOPLE = [
    _patient("m1", ("髙橋", "優子"), ("タカハシ", "ユウコ"), "1990-07-21", "female"),
    _patient("m2", ("高橋", "健太"), ("タカハシ", "ケンタ"), "1993-02-01", "male"),  # brother
    _patient("m3", ("高橋", "優子"), ("タカハシ", "ユウコ"), "1961-05-30", "female", "530-0001"),
    _patient("m4", ("山田", "太郎"), ("ヤマダ", "タロウ"), "1958-04-12", "male"),
]


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    for patient in PEOPLE:
        response = client.put(f"/fhir/Patient/{patient['id']}", json=patient, headers=FHIR_JSON)
        assert response.status_code in (200, 201), response.text
    return client


def _match(client: TestClient, patient: dict[str, Any], **more: Any) -> Any:
    parameters: list[dict[str, Any]] = [{"name": "resource", "resource": patient}]
    if "only_certain" in more:
        parameters.append({"name": "onlyCertainMatches", "valueBoolean": more["only_certain"]})
    if "count" in more:
        parameters.append({"name": "count", "valueInteger": more["count"]})
    return client.post(
        "/fhir/Patient/$match",
        json={"resourceType": "Parameters", "parameter": parameters},
        headers=FHIR_JSON,
    )


def _grades(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for entry in bundle.get("entry", []):
        ext = entry["search"]["extension"][0]
        assert ext["url"] == GRADE
        out.append((entry["resource"]["id"], ext["valueCode"]))
    return out


def test_variant_writing_finds_the_patient_first_and_certain(loaded: TestClient) -> None:
    query = {
        "resourceType": "Patient",
        "name": [{"text": "高橋　優子"}, {"text": "ﾀｶﾊｼ ﾕｰｺ"}],
        "birthDate": "平成2年7月21日",
        "gender": "female",
        "address": [{"postalCode": "1000005"}],
    }
    response = _match(loaded, query)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    grades = _grades(bundle)
    assert grades[0] == ("m1", "certain")
    scores = [e["search"]["score"] for e in bundle["entry"]]
    assert scores == sorted(scores, reverse=True)
    assert all(e["search"]["mode"] == "match" for e in bundle["entry"])
    assert "m2" not in dict(grades)  # the brother: same family, address; never returned
    assert bundle["total"] == len(bundle["entry"])


def test_transposed_birthdate_is_found_but_ranked_lower(loaded: TestClient) -> None:
    query = {
        "resourceType": "Patient",
        "name": [{"family": "タカハシ", "given": ["ユウコ"]}],
        "birthDate": "1990-07-12",
        "gender": "female",
    }
    grades = dict(_grades(_match(loaded, query).json()))
    assert grades["m1"] in ("probable", "possible")


def test_only_certain_and_count(loaded: TestClient) -> None:
    query = {
        "resourceType": "Patient",
        "name": [{"family": "タカハシ", "given": ["ユウコ"]}],
        "gender": "female",
    }
    every = _grades(_match(loaded, query).json())
    assert {pid for pid, _ in every} == {"m1", "m3"}  # name alone: possible matches
    assert all(grade == "possible" for _, grade in every)
    assert _grades(_match(loaded, query, only_certain=True).json()) == []
    assert len(_grades(_match(loaded, query, count=1).json())) == 1


def test_nobody_like_that(loaded: TestClient) -> None:
    query = {
        "resourceType": "Patient",
        "name": [{"text": "勅使河原 三郎"}],
        "birthDate": "2001-01-01",
    }
    bundle = _match(loaded, query).json()
    assert bundle.get("entry", []) == []
    assert bundle["total"] == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"resourceType": "Patient"}, "Parameters"),
        ({"resourceType": "Parameters", "parameter": []}, "resource"),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": {"resourceType": "Observation"}}],
            },
            "Patient",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "resource", "resource": {"resourceType": "Patient", "gender": "male"}}
                ],
            },
            "birthDate",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "resource",
                        "resource": {"resourceType": "Patient", "birthDate": "S64.1.8"},
                    }
                ],
            },
            "era",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "resource",
                        "resource": {"resourceType": "Patient", "birthDate": "1990-01-01"},
                    },
                    {"name": "count", "valueInteger": 0},
                ],
            },
            "count",
        ),
    ],
)
def test_bad_requests_are_explained(
    client: TestClient, body: dict[str, Any], fragment: str
) -> None:
    response = client.post("/fhir/Patient/$match", json=body, headers=FHIR_JSON)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    message = outcome["issue"][0]["diagnostics"]
    assert " / " in message
    assert fragment in message


def test_match_only_on_patient(client: TestClient) -> None:
    response = client.post(
        "/fhir/Observation/$match",
        json={"resourceType": "Parameters", "parameter": []},
        headers=FHIR_JSON,
    )
    assert response.status_code == 400


def test_synthetic_patients_are_matched(client: TestClient) -> None:
    people = list(Population(21).people(30))
    for person in people:
        resource = patient_resource(person)
        response = client.put(f"/fhir/Patient/{person.id}", json=resource, headers=FHIR_JSON)
        assert response.status_code in (200, 201), response.text
    target = people[7]
    query = {
        "resourceType": "Patient",
        "name": [{"text": f"{target.family_kana} {target.given_kana}"}],
        "birthDate": target.birthdate.strftime("%Y%m%d"),
        "gender": target.sex,
    }
    grades = _grades(_match(client, query).json())
    assert grades[0][0] == target.id


def test_capability_statement_lists_match(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    text = str(statement)
    assert "Patient-match" in text or "$match" in text or "'match'" in text


def test_namesake_with_a_slip_in_the_year_is_found_by_key(loaded: TestClient) -> None:
    # 1968 is neither the stored 1958 nor a transposition of it: only the key (the full name
    # with the birthdate's month and day) brings the record in.
    query = {
        "resourceType": "Patient",
        "name": [{"text": "山田 太郎"}, {"text": "ヤマダ タロー"}],
        "birthDate": "1968-04-12",
        "gender": "male",
        "address": [{"postalCode": "100-0005"}],
    }
    assert _grades(_match(loaded, query).json()) == [("m4", "probable")]


def test_match_key_is_a_searchable_documented_parameter(loaded: TestClient) -> None:
    found = loaded.get("/fhir/Patient", params={"match-key": "kanji:高橋優子:y:1961"}).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == ["m3"]
    either = loaded.get(
        "/fhir/Patient", params={"match-key": "kana:タカハシユコ:md:0721,kana:ヤマタタロ:y:1958"}
    ).json()
    assert sorted(e["resource"]["id"] for e in either["entry"]) == ["m1", "m4"]
    statement = loaded.get("/fhir/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    param = next(p for p in patient["searchParam"] if p["name"] == "match-key")
    assert param["type"] == "token"
    assert "照合用キー" in param["documentation"]
