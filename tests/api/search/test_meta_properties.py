"""The parameters of every resource against an oracle: `_id`, `_lastUpdated`, `_tag`,
`_security`, `_profile` (a uri: also `:below` and `:above`) and `_source`, on Patients whose
`meta` mixes them. `_lastUpdated` is compared with the instants the server stamped, read back
from the resources. Both backends, over HTTP.
See: https://hl7.org/fhir/R4/search.html#all
"""

from __future__ import annotations

import operator
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import escape, loaded_client

TAGS = [("http://tsunagu.jp/tags", "imported"), ("http://tsunagu.jp/tags", "review"), ("", "x")]
LABELS = [("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"), ("", "N")]
# Profiles this server does not know (claiming JP Core's would have them validated).
PROFILES = [
    "http://example.org/fhir/StructureDefinition/Clinic_Patient",
    "http://example.org/fhir/StructureDefinition/Clinic_Patient/v1",
    "http://example.org/fhir/eCS/StructureDefinition/Other_Patient",
    "http://example.net/Patient",
]
SOURCES = ["http://clinic.example/ehr", "http://hospital.example/ehr#a1"]


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code} if system else {"code": code}


def _patients() -> dict[str, dict[str, Any]]:
    rng = random.Random(20261123)
    out: dict[str, dict[str, Any]] = {}
    for n in range(30):
        meta: dict[str, Any] = {}
        if tags := rng.sample(TAGS, rng.randint(0, 2)):
            meta["tag"] = [_coding(*t) for t in tags]
        if labels := rng.sample(LABELS, rng.randint(0, 1)):
            meta["security"] = [_coding(*label) for label in labels]
        if profiles := rng.sample(PROFILES, rng.randint(0, 2)):
            meta["profile"] = profiles
        if rng.random() < 0.5:
            meta["source"] = rng.choice(SOURCES)
        patient: dict[str, Any] = {"resourceType": "Patient", "id": f"m{n:02d}"}
        if meta:
            patient["meta"] = meta
        out[patient["id"]] = patient
    return out


PATIENTS = _patients()
client = loaded_client(PATIENTS.values())


def found(client: TestClient, param: str, value: str) -> set[str]:
    response = client.get("/fhir/Patient", params={param: value, "_count": "1000"})
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


def _has_coding(patient: dict[str, Any], key: str, system: str | None, code: str) -> bool:
    return any(
        c["code"] == code and (system is None or c.get("system", "") == system)
        for c in patient.get("meta", {}).get(key, [])
    )


@settings(max_examples=40)
@given(
    key=st.sampled_from(["tag", "security"]),
    pick=st.integers(0, 4),
    with_system=st.booleans(),
)
def test_tags_and_security_labels(
    client: TestClient, key: str, pick: int, with_system: bool
) -> None:
    pool = TAGS if key == "tag" else LABELS
    system, code = pool[pick % len(pool)]
    value = f"{system}|{code}" if with_system else code
    expected = {
        id
        for id, p in PATIENTS.items()
        if _has_coding(p, key, system if with_system else None, code)
    }
    assert found(client, f"_{key}", value) == expected


@settings(max_examples=40)
@given(
    modifier=st.sampled_from(["", ":below", ":above"]),
    value=st.sampled_from(
        [
            *PROFILES,
            "http://example.org/fhir/",
            "http://example.org/fhir/StructureDefinition/Clinic_Patient/v1/extra",
        ]
    ),
)
def test_profiles_as_uris(client: TestClient, modifier: str, value: str) -> None:
    def matches(profile: str) -> bool:
        if modifier == ":below":
            return profile.startswith(value)
        if modifier == ":above":
            return value.startswith(profile)
        return profile == value

    expected = {
        id for id, p in PATIENTS.items() if any(map(matches, p.get("meta", {}).get("profile", [])))
    }
    assert found(client, f"_profile{modifier}", value) == expected


@settings(max_examples=10)
@given(source=st.sampled_from([*SOURCES, "http://nowhere.example"]))
def test_source(client: TestClient, source: str) -> None:
    expected = {id for id, p in PATIENTS.items() if p.get("meta", {}).get("source") == source}
    assert found(client, "_source", source) == expected


@settings(max_examples=20)
@given(ids=st.lists(st.sampled_from([*PATIENTS, "m99"]), min_size=1, max_size=4))
def test_ids(client: TestClient, ids: list[str]) -> None:
    assert found(client, "_id", ",".join(ids)) == set(ids) & set(PATIENTS)


def _stamped(client: TestClient) -> dict[str, datetime]:
    response = client.get("/fhir/Patient", params={"_count": "1000"})
    return {
        entry["resource"]["id"]: datetime.fromisoformat(entry["resource"]["meta"]["lastUpdated"])
        for entry in response.json()["entry"]
    }


@settings(max_examples=30)
@given(
    prefix=st.sampled_from(["gt", "lt", "ge", "le"]),
    pick=st.integers(0, 29),
    shift_us=st.sampled_from([-1, 0, 1]),
)
def test_last_updated_against_the_stamped_instants(
    client: TestClient, prefix: str, pick: int, shift_us: int
) -> None:
    stamped = _stamped(client)
    assert len(stamped) == len(PATIENTS)
    at = sorted(stamped.values())[pick] + timedelta(microseconds=shift_us)
    compare = {"gt": operator.gt, "lt": operator.lt, "ge": operator.ge, "le": operator.le}[prefix]
    expected = {id for id, t in stamped.items() if compare(t, at)}
    value = prefix + at.astimezone(UTC).isoformat(timespec="microseconds")
    assert found(client, "_lastUpdated", value) == expected


V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
TYPED = {  # Patient id -> identifiers (type code, value); a value may hold FHIR's separators
    "i01": [("MR", "12|34"), ("JHN", "0001")],
    "i02": [("MR", "0001")],
    "i03": [("JHN", "12|34")],
    "i04": [("MR", "a,b$c")],
}
typed_client = loaded_client(
    {
        "resourceType": "Patient",
        "id": id,
        "identifier": [
            {"type": {"coding": [{"system": V2, "code": code}]}, "value": value}
            for code, value in identifiers
        ],
    }
    for id, identifiers in TYPED.items()
)


@settings(max_examples=30)
@given(
    code=st.sampled_from(["MR", "JHN", "XX"]),
    value=st.sampled_from(["12|34", "0001", "a,b$c", "12"]),
)
def test_identifier_of_type(typed_client: TestClient, code: str, value: str) -> None:
    expected = {id for id, identifiers in TYPED.items() if (code, value) in identifiers}
    query = f"{V2}|{code}|{escape(value)}"
    assert found(typed_client, "identifier:of-type", query) == expected
