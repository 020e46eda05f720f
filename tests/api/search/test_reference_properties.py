"""Reference search, chains and `_has` against an oracle over a small graph of resources.

Patients (some sharing names and identifier values), Encounters of them, and Observations
whose subject is a local Patient, another server's Patient (an absolute URL, which only that
URL finds) or a Patient known only by identifier, with an Encounter or not. The oracle walks
the graph: a reference value `Patient/X`, `X` with `:Patient`, or an absolute URL;
`:identifier`; a chain through one or two references (`subject:Patient.name`,
`encounter.subject.family`); and `_has` (Patients with an Observation of some code). Both
backends, over HTTP.
See: https://hl7.org/fhir/R4/search.html#reference, #chaining and #has
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.api.search.support import loaded_client
from tsunagu.search.text import normalize

OTHER = "http://other.example/fhir"
MRN = "urn:oid:1.2.392.100495.20.3.51.11311234567"
FAMILIES = ["山田", "やまだ", "佐藤", "鈴木"]
CODES = ["2345-7", "4548-4", "29463-7"]


def _graph() -> tuple[
    dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]
]:
    rng = random.Random(20261123)
    patients = {
        f"p{n}": {
            "resourceType": "Patient",
            "id": f"p{n}",
            "identifier": [{"system": MRN, "value": f"{n % 4:04d}"}],
            "name": [{"family": rng.choice(FAMILIES)}],
        }
        for n in range(8)
    }
    encounters = {
        f"e{n}": {
            "resourceType": "Encounter",
            "id": f"e{n}",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": f"Patient/{rng.choice(sorted(patients))}"},
            # A stay of some days in March 2024, or none written.
            **(
                {"period": {"start": f"2024-03-{day:02d}", "end": f"2024-03-{day + 3:02d}"}}
                if (day := rng.randint(0, 28))
                else {}
            ),
        }
        for n in range(10)
    }
    observations: dict[str, dict[str, Any]] = {}
    for n in range(40):
        kind = rng.choice(["local", "local", "local", "other", "identifier"])
        target = rng.choice(sorted(patients))
        if kind == "local":
            subject: dict[str, Any] = {"reference": f"Patient/{target}"}
        elif kind == "other":
            subject = {"reference": f"{OTHER}/Patient/{target}"}
        else:
            subject = {"identifier": {"system": MRN, "value": f"{n % 4:04d}"}}
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"o{n:02d}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": rng.choice(CODES)}]},
            "subject": subject,
        }
        if rng.random() < 0.6:
            observation["encounter"] = {"reference": f"Encounter/{rng.choice(sorted(encounters))}"}
        if rng.random() < 0.8:  # a time of care in March 2024, in Japan
            day, hour = rng.randint(1, 31), rng.randint(0, 23)
            observation["effectiveDateTime"] = f"2024-03-{day:02d}T{hour:02d}:00:00+09:00"
        observations[observation["id"]] = observation
    return patients, encounters, observations


PATIENTS, ENCOUNTERS, OBSERVATIONS = _graph()


client = loaded_client([*PATIENTS.values(), *ENCOUNTERS.values(), *OBSERVATIONS.values()])


def found(client: TestClient, path: str, pairs: list[tuple[str, str]]) -> set[str]:
    response = client.get(f"/fhir/{path}", params=[*pairs, ("_count", "1000")])
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert [e for e in bundle.get("entry", []) if e["search"]["mode"] != "match"] == []
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


def local_subject(observation: dict[str, Any]) -> str | None:
    """The id of the local Patient an Observation is about, if any."""
    reference = observation["subject"].get("reference", "")
    return reference.removeprefix("Patient/") if reference.startswith("Patient/") else None


def family_matches(patient_id: str | None, start: str) -> bool:
    if patient_id is None:
        return False
    family = PATIENTS[patient_id]["name"][0]["family"]
    return normalize(family).startswith(normalize(start))


def encounter_patient(observation: dict[str, Any]) -> str | None:
    encounter = observation.get("encounter", {}).get("reference", "").removeprefix("Encounter/")
    if not encounter:
        return None
    return str(ENCOUNTERS[encounter]["subject"]["reference"]).removeprefix("Patient/")


PATIENT_IDS = sorted(PATIENTS)


@settings(max_examples=80)
@given(
    target=st.sampled_from([*PATIENT_IDS, "nobody"]),
    form=st.sampled_from(["Patient/{}", "{}", ":Patient={}", "patient={}", OTHER + "/Patient/{}"]),
)
def test_a_reference_value_in_every_form(client: TestClient, target: str, form: str) -> None:
    if form.startswith(":"):
        pairs = [("subject:Patient", target)]
    elif form.startswith("patient="):
        pairs = [("patient", target)]
    else:
        pairs = [("subject", form.format(target))]
    wanted = f"{OTHER}/Patient/{target}" if form.startswith(OTHER) else f"Patient/{target}"
    expected = {id for id, o in OBSERVATIONS.items() if o["subject"].get("reference") == wanted}
    assert found(client, "Observation", pairs) == expected


@settings(max_examples=40)
@given(value=st.sampled_from([f"{n:04d}" for n in range(5)]))
def test_identifier_of_the_reference(client: TestClient, value: str) -> None:
    expected = {
        id
        for id, o in OBSERVATIONS.items()
        if o["subject"].get("identifier", {}).get("value") == value
    }
    assert found(client, "Observation", [("subject:identifier", f"{MRN}|{value}")]) == expected


@settings(max_examples=80)
@given(
    start=st.sampled_from([*FAMILIES, "ヤマ", "山", "佐"]),
    through=st.sampled_from(["subject:Patient", "subject", "patient", "encounter.subject"]),
)
def test_chains_match_the_graph(client: TestClient, start: str, through: str) -> None:
    via = encounter_patient if through == "encounter.subject" else local_subject
    expected = {id for id, o in OBSERVATIONS.items() if family_matches(via(o), start)}
    assert found(client, "Observation", [(f"{through}.family", start)]) == expected


@settings(max_examples=40)
@given(value=st.sampled_from([f"{n:04d}" for n in range(5)]))
def test_a_chain_to_the_identifier_of_a_local_patient(client: TestClient, value: str) -> None:
    expected = {
        id
        for id, o in OBSERVATIONS.items()
        if (p := local_subject(o)) is not None and PATIENTS[p]["identifier"][0]["value"] == value
    }
    pairs = [("subject:Patient.identifier", f"{MRN}|{value}")]
    assert found(client, "Observation", pairs) == expected


@settings(max_examples=40)
@given(code=st.sampled_from([*CODES, "0000-0"]), family=st.sampled_from([None, *FAMILIES]))
def test_has_finds_the_patients_of_matching_observations(
    client: TestClient, code: str, family: str | None
) -> None:
    expected = {
        p
        for o in OBSERVATIONS.values()
        if o["code"]["coding"][0]["code"] == code and (p := local_subject(o)) is not None
    }
    pairs = [("_has:Observation:subject:code", f"http://loinc.org|{code}")]
    if family is not None:
        pairs.append(("family", family))
        expected = {p for p in expected if family_matches(p, family)}
    assert found(client, "Patient", pairs) == expected


def split(client: TestClient, path: str, pairs: list[tuple[str, str]]) -> dict[str, set[str]]:
    """`Type/id` of a searchset's entries, by search mode."""
    response = client.get(f"/fhir/{path}", params=[*pairs, ("_count", "1000")])
    assert response.status_code == 200, response.text
    out: dict[str, set[str]] = {"match": set(), "include": set()}
    for entry in response.json().get("entry", []):
        resource = entry["resource"]
        out[entry["search"]["mode"]].add(f"{resource['resourceType']}/{resource['id']}")
    return out


def _encounter_of(observation: dict[str, Any]) -> str | None:
    reference = observation.get("encounter", {}).get("reference")
    return str(reference) if reference else None


@settings(max_examples=30)
@given(code=st.sampled_from(CODES), iterate=st.booleans())
def test_includes_add_what_the_matches_refer_to(
    client: TestClient, code: str, iterate: bool
) -> None:
    matched = {id for id, o in OBSERVATIONS.items() if o["code"]["coding"][0]["code"] == code}
    encounters = {e for id in matched if (e := _encounter_of(OBSERVATIONS[id])) is not None}
    patients = {f"Patient/{p}" for id in matched if (p := local_subject(OBSERVATIONS[id]))}
    pairs = [
        ("code", f"http://loinc.org|{code}"),
        ("_include", "Observation:subject"),
        ("_include", "Observation:encounter"),
    ]
    if iterate:  # the Patients of the included Encounters too
        pairs.append(("_include:iterate", "Encounter:subject"))
        patients |= {
            str(ENCOUNTERS[e.removeprefix("Encounter/")]["subject"]["reference"])
            for e in encounters
        }
    result = split(client, "Observation", pairs)
    assert result["match"] == {f"Observation/{id}" for id in matched}
    assert result["include"] == encounters | patients


@settings(max_examples=20)
@given(family=st.sampled_from(FAMILIES))
def test_revinclude_adds_what_refers_to_the_matches(client: TestClient, family: str) -> None:
    matched = {id for id in PATIENTS if family_matches(id, family)}
    observations = {
        f"Observation/{id}" for id, o in OBSERVATIONS.items() if local_subject(o) in matched
    }
    result = split(client, "Patient", [("family", family), ("_revinclude", "Observation:subject")])
    assert result["match"] == {f"Patient/{id}" for id in matched}
    assert result["include"] == observations


@settings(max_examples=20)
@given(patient=st.sampled_from(PATIENT_IDS))
def test_the_compartment_and_everything_of_a_patient(client: TestClient, patient: str) -> None:
    observations = {
        f"Observation/{id}" for id, o in OBSERVATIONS.items() if local_subject(o) == patient
    }
    encounters = {
        f"Encounter/{id}"
        for id, e in ENCOUNTERS.items()
        if e["subject"]["reference"] == f"Patient/{patient}"
    }
    assert split(client, f"Patient/{patient}/Observation", [])["match"] == observations
    everything = split(client, f"Patient/{patient}/$everything", [])
    assert everything["match"] == {f"Patient/{patient}"} | observations | encounters


def _care(resource: dict[str, Any]) -> tuple[str, str] | None:
    """First and last day of care (Japan time), or None without a date of care."""
    if "effectiveDateTime" in resource:
        day = resource["effectiveDateTime"][:10]
        return day, day
    if "period" in resource:
        return resource["period"]["start"], resource["period"]["end"]
    return None


@settings(max_examples=40)
@given(
    patient=st.sampled_from(PATIENT_IDS),
    start=st.sampled_from([None, "2024-03-01", "2024-03-10", "2024-03-31"]),
    end=st.sampled_from([None, "2024-03-09", "2024-03-15", "2024-03-31"]),
)
def test_everything_between_dates_of_care(
    client: TestClient, patient: str, start: str | None, end: str | None
) -> None:
    """A resource cared for on a day of [start, end] (ISO days compare as text), or without
    a date of care (the Patient), is part of the record asked for."""
    if start is not None and end is not None and end < start:
        return  # refused (tested with the other refusals)

    def wanted(resource: dict[str, Any]) -> bool:
        care = _care(resource)
        if care is None:
            return True
        first, last = care
        return (start is None or last >= start) and (end is None or first <= end)

    owned = [
        *(o for o in OBSERVATIONS.values() if local_subject(o) == patient),
        *(e for e in ENCOUNTERS.values() if e["subject"]["reference"] == f"Patient/{patient}"),
    ]
    expected = {f"Patient/{patient}"} | {
        f"{r['resourceType']}/{r['id']}" for r in owned if wanted(r)
    }
    pairs = [(name, day) for name, day in (("start", start), ("end", end)) if day is not None]
    assert split(client, f"Patient/{patient}/$everything", pairs)["match"] == expected


ALL_KEYS = [f"Patient/{id}" for id in PATIENTS] + [
    f"{r['resourceType']}/{r['id']}" for r in (*ENCOUNTERS.values(), *OBSERVATIONS.values())
]


@settings(max_examples=30)
@given(
    types=st.sets(st.sampled_from(["Patient", "Encounter", "Observation"]), min_size=1),
    keys=st.sets(st.sampled_from(ALL_KEYS), min_size=1, max_size=6),
)
def test_a_system_search_over_some_types(
    client: TestClient, types: set[str], keys: set[str]
) -> None:
    wanted = {key.split("/")[1] for key in keys}
    expected = {
        key for key in ALL_KEYS if key.split("/")[0] in types and key.split("/")[1] in wanted
    }
    pairs = [("_type", ",".join(sorted(types))), ("_id", ",".join(sorted(wanted)))]
    assert split(client, "", pairs)["match"] == expected
