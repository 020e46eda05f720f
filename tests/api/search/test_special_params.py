"""Parameters common to all resources, system and compartment search, $everything, result
shaping (`_elements`, `_summary`) and POST `_search`.

`{since}` in a query is an instant after the bulk load and before `data.UPDATES` were written
(allergy-01, then obs-temp-06b, then pat-06).
See: https://hl7.org/fhir/R4/search.html#all, https://hl7.org/fhir/R4/http.html#search,
https://hl7.org/fhir/R4/patient-operation-everything.html
"""

from __future__ import annotations

from datetime import datetime

import pytest
from _pytest.mark.structures import ParameterSet

from tests.api.conftest import FHIR_JSON
from tests.api.search import data
from tests.api.search.support import (
    Expected,
    SearchServer,
    all_pats,
    case,
    cases,
    check,
    entry_ids,
    outcomes,
    pats,
)

COHORT = data.COHORT
PROFILE = data.JP_CORE
ALL_OBS = {o["id"] for o in data.OBSERVATIONS}
LAB_OBS = {
    o["id"] for o in data.OBSERVATIONS if o["category"][0]["coding"][0]["code"] == "laboratory"
}
TOKYO_PATIENTS = pats(1, 2, 4, 5, 6, 7, 8)
OBS_01 = {"obs-hba1c-01a", "obs-hba1c-01b", "obs-glucose-01", "obs-weight-01", "obs-bp-01"}
EVERYTHING_06 = pats(6) | {
    "obs-weight-06",
    "obs-temp-06a",
    "obs-temp-06b",
    "cond-asthma-06",
    "cond-flu-06",
    "medreq-06",
    "allergy-06",
    "enc-03",
}
EVERYTHING_01 = (
    pats(1)
    | OBS_01
    | {"cond-dm-01", "cond-htn-01", "medreq-01a", "medreq-01b", "medreq-01c"}
    | {"allergy-01", "enc-01", "enc-02", "risk-01"}
)

CASES: list[tuple[str, Expected] | ParameterSet] = [
    # _id
    ("Patient?_id=pat-01", pats(1)),
    ("Patient?_id=pat-01,pat-03", pats(1, 3)),
    ("Patient?_id=pat-99", set()),  # deleted
    ("Patient?_id=obs-hba1c-01a", set()),  # another type's id
    ("Patient?_id=pat-0", set()),  # no prefix matching
    ("Patient?_id=pat-01&_id=pat-01,pat-02", pats(1)),
    # _lastUpdated
    ("Patient?_lastUpdated=ge{since}", pats(6)),
    ("Patient?_lastUpdated=lt{since}", all_pats(6)),
    ("Patient?_lastUpdated=gt2000-01-01", all_pats()),
    ("Patient?_lastUpdated=lt2000", set()),
    ("Patient?_lastUpdated=sa{since}", pats(6)),
    ("Patient?_lastUpdated=eb{since}", all_pats(6)),
    ("Patient?_lastUpdated=ne{since}", all_pats()),
    case("Patient?_id:missing=false", all_pats()),
    ("Patient?_id:missing=true", set()),
    case("Patient?_lastUpdated:missing=false", all_pats()),
    ("?_lastUpdated=ge{since}&_sort=_lastUpdated", ["allergy-01", "obs-temp-06b", "pat-06"]),
    ("?_lastUpdated=ge{since}&_sort=-_lastUpdated", ["pat-06", "obs-temp-06b", "allergy-01"]),
    ("?_type=Observation,Patient&_lastUpdated=ge{since}", {"obs-temp-06b", "pat-06"}),
    ("Observation?_lastUpdated=ge{since}&patient=pat-06", {"obs-temp-06b"}),
    # _tag, _profile, _security (tokens and uris in meta)
    ("Patient?_tag=cohort-dm", pats(1, 3)),
    (f"Patient?_tag={COHORT}|cohort-dm", pats(1, 3)),
    ("Patient?_tag=|cohort-dm", set()),
    ("Patient?_tag=cohort-dm,import-2024", pats(1, 3, 4, 12)),
    ("Patient?_tag:not=cohort-dm", all_pats(1, 3)),
    ("Patient?_tag:missing=true", all_pats(1, 3, 4, 12)),
    ("Condition?_tag=cohort-dm", {"cond-dm-01", "cond-dm-03"}),
    (f"Patient?_profile={PROFILE}JP_Patient", all_pats(10)),
    (f"Observation?_profile={PROFILE}JP_Observation_LabResult", LAB_OBS),
    (f"Observation?_profile={PROFILE}JP_Observation_VitalSigns", ALL_OBS - LAB_OBS),
    (f"Observation?_profile:below={PROFILE}", ALL_OBS),
    (f"Patient?_profile={PROFILE}JP_Observation_LabResult", set()),
    (
        "Condition?_profile:missing=true",
        {"cond-htn-07", "cond-asthma-06", "cond-flu-06", "cond-dm-03", "cond-ckd-08"}
        | {"cond-backpain-09"},
    ),
    ("Patient?_security=R", pats(9)),
    (f"Patient?_security={data.CONFIDENTIALITY}|N", pats(1, 2)),
    ("Patient?_security:not=R", all_pats(9)),
    # _source (uri) with :above and :below
    (f"Patient?_source={data.SOURCE_TOKYO}", TOKYO_PATIENTS),
    (
        f"Observation?_source={data.SOURCE_TOKYO_LAB}",
        {"obs-hba1c-01a", "obs-hba1c-01b", "obs-glucose-01"},
    ),
    (f"Patient?_source={data.SOURCE_TOKYO_LAB}", set()),
    ("Patient?_source:below=http://tokyo-chuo.example.jp", TOKYO_PATIENTS),
    case(
        f"Patient?_source:above={data.SOURCE_TOKYO_LAB}/2024",
        TOKYO_PATIENTS,
    ),
    case(
        f"Observation?_source:above={data.SOURCE_TOKYO_LAB}/2024",
        {"obs-hba1c-01a", "obs-hba1c-01b", "obs-glucose-01"},
    ),
    ("Patient?_source:missing=true", pats(9, 10, 11, 12)),
    ("Patient?_source:below=%", set()),
    # Format parameters are not search criteria.
    ("Patient?family=山田&_format=json&_pretty=true", pats(1, 2)),
    # System search, across all types or the types in _type.
    ("?_id=pat-01,prac-01,org-tokyo", {"pat-01", "prac-01", "org-tokyo"}),
    ("?_id=pat-99,obs-weight-08", set()),
    ("?_type=Patient,Practitioner&name=佐藤", {"prac-01"}),
    ("?_type=Patient,Practitioner&name=鈴木", {"pat-04", "prac-02"}),
    (
        "?_type=Practitioner,Patient&gender=female&_sort=_id",
        ["pat-02", "pat-04", "pat-06", "pat-08", "pat-12", "prac-02"],
    ),
    ("?_type=Condition,Observation&_tag=cohort-dm", {"cond-dm-01", "cond-dm-03"}),
    ("?_tag=import-2024", pats(4, 12)),
    # Compartments.
    ("Patient/pat-01/Observation", OBS_01),
    ("Patient/pat-01/Observation?code=4548-4", {"obs-hba1c-01a", "obs-hba1c-01b"}),
    ("Patient/pat-01/MedicationRequest?status=active", {"medreq-01a", "medreq-01b"}),
    ("Patient/pat-01/Encounter?_sort=date", ["enc-01", "enc-02"]),
    ("Patient/pat-01/AllergyIntolerance", {"allergy-01"}),
    ("Patient/pat-06/Condition", {"cond-asthma-06", "cond-flu-06"}),
    ("Patient/pat-07/RiskAssessment", {"risk-07"}),
    ("Patient/pat-05/Condition", set()),
    case(
        "Patient/pat-11/Observation",
        {"obs-glucose-11", "obs-abs-11"},
    ),
    ("Practitioner/prac-02/Observation", {"obs-temp-06a", "obs-temp-06b"}),
    ("Practitioner/prac-01/Patient", pats(1, 7)),
    ("Practitioner/prac-01/Condition", {"cond-dm-01", "cond-htn-01", "cond-htn-07"}),
    (
        "Practitioner/prac-01/MedicationRequest",
        {"medreq-01a", "medreq-01b", "medreq-01c", "medreq-07"},
    ),
    ("Encounter/enc-03/Condition", {"cond-flu-06"}),
    ("Encounter/enc-01/Observation", {"obs-hba1c-01a", "obs-glucose-01", "obs-weight-01"}),
    # Patient/$everything: the patient and their compartment; never deleted resources.
    ("Patient/pat-06/$everything", EVERYTHING_06),
    (
        "Patient/pat-06/$everything?_type=Condition,Patient",
        pats(6) | {"cond-asthma-06", "cond-flu-06"},
    ),
    (
        "Patient/pat-06/$everything?_type=Observation",
        {"obs-weight-06", "obs-temp-06a", "obs-temp-06b"},
    ),
    ("Patient/pat-06/$everything?_since={since}", pats(6) | {"obs-temp-06b"}),
    ("Patient/pat-01/$everything?_count=4", EVERYTHING_01),
    ("Patient/pat-08/$everything", pats(8) | {"obs-hba1c-08", "cond-ckd-08"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_special_parameters(server: SearchServer, query: str, expected: Expected) -> None:
    check(server.ids(query), expected)


def test_since_splits_the_load_from_the_updates(server: SearchServer) -> None:
    """The fixture's premise: only the updates are on or after `since`."""
    for resource in data.UPDATES:
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        stored = server.client.get(url).json()
        assert stored["meta"]["versionId"] == "2"
        updated = datetime.fromisoformat(stored["meta"]["lastUpdated"])
        assert updated > datetime.fromisoformat(server.since)


def test_everything_pages_follow_next_links(server: SearchServer) -> None:
    pages = server.pages("Patient/pat-01/$everything?_count=4")
    assert len(pages) == 4
    assert [len(entry_ids(p)) for p in pages] == [4, 4, 4, 3]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(q, e, id=q)
        for q, e in [
            ("Patient?_id=pat-01&_elements=birthDate,gender", {"birthDate", "gender"}),
            ("Patient?_id=pat-01&_elements=name", {"name"}),
            ("Observation?_id=obs-hba1c-01a&_elements=valueQuantity", {"valueQuantity"}),
        ]
    ],
)
def test_elements(server: SearchServer, query: str, expected: set[str]) -> None:
    """Only the requested elements (plus id, meta and mandatory ones), marked SUBSETTED."""
    bundle = server.bundle(query)
    (entry,) = bundle["entry"]
    resource = entry["resource"]
    kept = set(resource) - {"resourceType", "id", "meta"}
    mandatory = {"status", "code"} if resource["resourceType"] == "Observation" else set()
    assert expected <= kept <= expected | mandatory
    tags = resource["meta"].get("tag", [])
    assert any(t.get("code") == "SUBSETTED" for t in tags), tags


def test_summary_true_keeps_summary_elements(server: SearchServer) -> None:
    bundle = server.bundle("Patient?_id=pat-01&_summary=true")
    resource = bundle["entry"][0]["resource"]
    assert {"name", "birthDate", "gender", "identifier"} <= set(resource)
    assert "address" in resource
    assert entry_ids(bundle) == ["pat-01"]
    tags = resource["meta"].get("tag", [])
    assert any(t.get("code") == "SUBSETTED" for t in tags), tags


@pytest.mark.parametrize(
    ("form", "url_query", "expected"),
    [
        pytest.param(f, q, e, id="&".join(f"{k}={v}" for k, v in f.items()) + q)
        for f, q, e in [
            ({"family": "山田"}, "", pats(1, 2)),
            ({"family": "やまだ", "given": "はなこ"}, "", pats(2)),
            ({"birthdate": "ge2001-12-31"}, "", pats(5, 6)),
            ({"gender": "female"}, "?address-state=東京都", pats(2, 12)),
            ({"_has:Condition:subject:code": "E11.9"}, "", pats(1, 3)),
            ({"identifier": f"{data.MRN_OSAKA}|00000001"}, "", pats(3)),
        ]
    ],
)
def test_post_search(
    server: SearchServer, form: dict[str, str], url_query: str, expected: set[str]
) -> None:
    """POST /{type}/_search with a form body (and optionally URL parameters too)."""
    response = server.client.post(f"/fhir/Patient/_search{url_query}", data=form)
    assert response.status_code == 200, response.text
    check(entry_ids(response.json()), expected)


def test_post_search_at_system_level(server: SearchServer) -> None:
    response = server.client.post(
        "/fhir/_search", data={"_type": "Patient,Practitioner", "name": "佐藤,ハタ"}
    )
    assert response.status_code == 200, response.text
    check(entry_ids(response.json()), {"prac-01", "pat-09"})


def test_search_results_are_the_stored_resources(server: SearchServer) -> None:
    """A match is the current version, exactly as read (with a fullUrl to read it from)."""
    bundle = server.bundle("Patient?_id=pat-06")
    (entry,) = bundle["entry"]
    assert entry["fullUrl"] == "http://testserver/fhir/Patient/pat-06"
    read = server.client.get("/fhir/Patient/pat-06", headers=FHIR_JSON).json()
    assert entry["resource"] == read
    assert outcomes(bundle) == []
