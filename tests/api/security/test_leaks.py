"""Attack tests: nothing hidden leaks through any route (search parameters, chains, `_has`,
includes, history, `$everything`, Bundles, paging links, counts, conditional criteria)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.security.conftest import CALLER, OWNER, World, clinical
from tsunagu.security.principal import Role


def _get(world: World, url: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = world.client.get(url, params=params or None, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _ids(bundle: dict[str, Any], mode: str | None = None) -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if "resource" in e and (mode is None or e.get("search", {}).get("mode") == mode)
    }


@pytest.fixture(scope="module")
def me(world: World) -> tuple[str, dict[str, str]]:
    """The patient of the `active` state, with their own patient token."""
    patient = world.patients["active"]
    return patient, world.patient_headers(patient)


@pytest.fixture(scope="module")
def linked(world: World) -> dict[str, str]:
    """Facility B's own data linked to facility A's hidden data (no consent for it).

    `own_patient`: a Patient B created; A wrote a Condition about it (hidden from B), and B
    wrote its own Condition. `own_obs`: B's Observation whose focus is A's hidden Condition
    of the patient without consent."""
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    own_patient = world.create({"resourceType": "Patient", "name": [{"family": "連携"}]}, CALLER)
    hidden = world.create(
        {**clinical("diagnoses", own_patient["id"], "a-secret"), "code": {"text": "秘密の病名"}}
    )
    mine = world.create(
        {**clinical("diagnoses", own_patient["id"], "b-own"), "code": {"text": "B の病名"}}, CALLER
    )
    target = world.resources[("none", "diagnoses")]
    obs = clinical("labs", own_patient["id"], "b-focus")
    obs["focus"] = [{"reference": f"Condition/{target['id']}"}]
    own_obs = world.client.post("/fhir/Observation", json=obs, headers=doctor_b).json()
    return {
        "own_patient": own_patient["id"],
        "hidden": hidden["id"],
        "mine": mine["id"],
        "target": target["id"],
        "own_obs": own_obs["id"],
    }


# --- a patient reading another patient ---------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"subject": "Patient/{other}"},
        {"patient": "{other}"},
        {"subject:Patient": "{other}"},
        {"_id": "{other_condition}"},
        {"identifier": "urn:tsunagu:test|seed-diagnoses-{other}"},
        {"subject.family": "試験none"},  # chaining to the other patient
        {"subject:Patient._id": "{other}"},
    ],
)
def test_search_parameters_never_reach_another_patient(
    world: World, me: tuple[str, dict[str, str]], query: dict[str, str]
) -> None:
    other = world.patients["none"]
    values = {
        "other": other,
        "other_condition": world.resources[("none", "diagnoses")]["id"],
    }
    params = {k: v.format(**values) for k, v in query.items()}
    found = _get(world, "/fhir/Condition", me[1], _total="accurate", **params)
    assert found["total"] == 0
    assert not found.get("entry")
    counted = _get(world, "/fhir/Condition", me[1], _summary="count", **params)
    assert counted["total"] == 0


def test_a_patient_sees_their_own_record(world: World, me: tuple[str, dict[str, str]]) -> None:
    patient, headers = me
    found = _get(world, "/fhir/Condition", headers, _total="accurate")
    assert found["total"] == 1
    assert _matches(found)[0]["subject"]["reference"] == f"Patient/{patient}"


def test_read_vread_and_history_of_another_patient_look_missing(
    world: World, me: tuple[str, dict[str, str]]
) -> None:
    other = world.resources[("none", "diagnoses")]["id"]
    for path in (
        f"Condition/{other}",
        f"Condition/{other}/_history",
        f"Condition/{other}/_history/1",
        f"Patient/{world.patients['none']}",
    ):
        response = world.client.get(f"/fhir/{path}", headers=me[1])
        assert response.status_code == 404, path
        assert response.json()["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize("path", ["Condition/_history", "_history", "Observation/_history"])
def test_type_and_system_history_hold_only_the_callers_data(
    world: World, me: tuple[str, dict[str, str]], path: str
) -> None:
    patient = me[0]
    history = _get(world, f"/fhir/{path}", me[1], _count="200")
    assert history.get("entry")
    for entry in history["entry"]:
        resource = entry["resource"]
        refs = str(resource.get("subject") or resource.get("patient") or resource.get("id"))
        assert patient in refs or resource["resourceType"] not in (
            "Condition",
            "Observation",
            "Patient",
            "AllergyIntolerance",
            "MedicationRequest",
            "DocumentReference",
            "Consent",
        ), resource["resourceType"]


def test_everything_of_another_patient_is_missing_and_of_oneself_is_only_oneself(
    world: World, me: tuple[str, dict[str, str]]
) -> None:
    patient, headers = me
    other = world.client.get(f"/fhir/Patient/{world.patients['none']}/$everything", headers=headers)
    assert other.status_code == 404
    own = _get(world, f"/fhir/Patient/{patient}/$everything", headers, _count="500")
    ids = _ids(own)
    assert f"Patient/{patient}" in ids
    hidden = {
        f"{r['resourceType']}/{r['id']}" for (s, _), r in world.resources.items() if s != "active"
    }
    assert not ids & hidden
    assert len(ids) >= 8  # the Patient and the 7 resources about them


def test_batch_entries_are_each_checked(world: World, me: tuple[str, dict[str, str]]) -> None:
    other = world.resources[("none", "diagnoses")]["id"]
    mine = world.resources[("active", "diagnoses")]["id"]
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Condition/{other}"}},
            {"request": {"method": "GET", "url": f"Condition/{mine}"}},
            {
                "request": {
                    "method": "GET",
                    "url": f"Condition?subject=Patient/{world.patients['none']}",
                }
            },
            {"request": {"method": "DELETE", "url": f"Condition/{mine}"}},
        ],
    }
    response = world.client.post("/fhir", json=batch, headers=me[1])
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["404", "200", "200", "403"]
    assert not entries[2]["resource"].get("entry")
    assert entries[0]["response"]["outcome"]["issue"][0]["code"] == "not-found"


def test_a_transaction_touching_hidden_data_changes_nothing(world: World) -> None:
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    hidden = world.resources[("none", "labs")]
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "name": [{"family": "取引"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {k: v for k, v in hidden.items() if k != "meta"},
                "request": {"method": "PUT", "url": f"Observation/{hidden['id']}"},
            },
        ],
    }
    response = world.client.post("/fhir", json=transaction, headers=doctor_b)
    assert response.status_code == 404
    owner = world.client.get(
        f"/fhir/Observation/{hidden['id']}", headers=world.headers(Role.PHYSICIAN, OWNER)
    )
    assert owner.json()["meta"]["versionId"] == hidden["meta"]["versionId"]
    none = _get(world, "/fhir/Patient", doctor_b, family="取引", _total="accurate")
    assert none["total"] == 0


# --- a facility reaching hidden data through its own ---------------------------------------


def test_a_chain_through_a_hidden_resource_matches_nothing(
    world: World, linked: dict[str, str]
) -> None:
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    own = _get(world, "/fhir/Observation", doctor_b, _id=linked["own_obs"])
    assert len(_matches(own)) == 1
    chained = _get(
        world,
        "/fhir/Observation",
        doctor_b,
        _id=linked["own_obs"],
        **{"focus:Condition.code:text": "高血圧症"},
    )
    assert _matches(chained) == []


def test_has_through_a_hidden_resource_matches_nothing(
    world: World, linked: dict[str, str]
) -> None:
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    patient = linked["own_patient"]
    secret = _get(
        world,
        "/fhir/Patient",
        doctor_b,
        _id=patient,
        **{"_has:Condition:subject:code:text": "秘密"},
    )
    assert _matches(secret) == []
    own = _get(
        world,
        "/fhir/Patient",
        doctor_b,
        _id=patient,
        **{"_has:Condition:subject:code:text": "B の"},
    )
    assert len(_matches(own)) == 1  # the same query through visible data does match


def test_includes_add_only_visible_resources(world: World, linked: dict[str, str]) -> None:
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    included = _get(
        world,
        "/fhir/Observation",
        doctor_b,
        _id=linked["own_obs"],
        _include="Observation:focus",
    )
    assert _ids(included) == {f"Observation/{linked['own_obs']}"}
    rev = _get(
        world,
        "/fhir/Patient",
        doctor_b,
        _id=linked["own_patient"],
        _revinclude="Condition:subject",
    )
    assert _ids(rev, "include") == {f"Condition/{linked['mine']}"}
    iterate = _get(
        world,
        "/fhir/Patient",
        doctor_b,
        _id=linked["own_patient"],
        _revinclude=["Observation:subject"],
        **{"_include:iterate": "Observation:focus"},
    )
    assert f"Condition/{linked['target']}" not in _ids(iterate)


def test_paging_rechecks_every_page_and_totals_count_only_visible(world: World) -> None:
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    everything = _get(world, "/fhir/Observation", doctor_b, _count="500", _total="accurate")
    visible = _ids(everything, "match")
    assert visible
    assert everything["total"] == len(visible)
    hidden = {
        f"Observation/{r['id']}"
        for (state, _), r in world.resources.items()
        if state != "active" and r["resourceType"] == "Observation"
    }
    assert not visible & hidden
    seen: set[str] = set()
    page = _get(world, "/fhir/Observation", doctor_b, _count="1", _total="accurate")
    assert page["total"] == len(visible)
    next_url = None
    while True:
        assert len(page.get("entry", [])) <= 1
        seen |= _ids(page, "match")
        links = {link["relation"]: link["url"] for link in page["link"]}
        next_url = links.get("next")
        if next_url is None:
            break
        split = urlsplit(next_url)
        page = _get(world, f"{split.path}?{split.query}", doctor_b)
    assert seen == visible
    # A paging link is only a position: replayed with a patient's token it shows that
    # patient's view, not the facility's.
    patient = world.patients["none"]
    replay = world.client.get(
        f"{urlsplit(next_url or '').path}?_count=50", headers=world.patient_headers(patient)
    )
    assert all(patient in str(r.get("subject")) for r in _matches(replay.json()))
    counted = _get(world, "/fhir/Observation", doctor_b, _summary="count")
    assert counted["total"] == len(visible)


def test_conditional_criteria_never_match_hidden_resources(world: World) -> None:
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    owner = world.headers(Role.PHYSICIAN, OWNER)
    hidden = world.resources[("none", "prescriptions")]
    criteria = f"identifier=urn:tsunagu:test|seed-prescriptions-{world.patients['none']}"
    body = {k: v for k, v in hidden.items() if k not in ("meta", "id")}
    # The hidden resource matches none of these criteria for B: B gets its own, new one.
    updated = world.client.put(f"/fhir/MedicationRequest?{criteria}", json=body, headers=doctor_b)
    assert updated.status_code == 201
    assert updated.json()["id"] != hidden["id"]
    deleted = world.client.delete(f"/fhir/MedicationRequest?{criteria}", headers=doctor_b)
    assert deleted.status_code == 204  # B's own one (the only match B can see)
    created = world.client.post(
        "/fhir/MedicationRequest", json=body, headers={**doctor_b, "if-none-exist": criteria}
    )
    assert created.status_code == 201
    assert created.json()["id"] != hidden["id"]
    still = world.client.get(f"/fhir/MedicationRequest/{hidden['id']}", headers=owner)
    assert still.status_code == 200
    assert still.json()["meta"]["versionId"] == hidden["meta"]["versionId"]


def test_a_forged_owner_tag_is_replaced_by_the_server(world: World) -> None:
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    forged = clinical("labs", world.patients["none"], "forged")
    forged["meta"] = {
        "tag": [{"system": "http://tsunagu.jp/fhir/CodeSystem/facility", "code": OWNER}]
    }
    response = world.client.post("/fhir/Observation", json=forged, headers=doctor_b)
    assert response.status_code == 201
    tags = response.json()["meta"]["tag"]
    assert [t["code"] for t in tags if t["system"].endswith("/facility")] == [CALLER]
    owner_view = world.client.get(
        f"/fhir/Observation/{response.json()['id']}", headers=world.headers(Role.PHYSICIAN, OWNER)
    )
    assert owner_view.status_code == 404  # A never consented-to B's data: hidden from A


def test_owner_sees_own_data_whatever_the_consent(world: World) -> None:
    owner = world.headers(Role.PHYSICIAN, OWNER)
    found = _get(world, "/fhir/Condition", owner, _total="accurate", _count="100")
    seeded = {f"Condition/{r['id']}" for (_, c), r in world.resources.items() if c == "diagnoses"}
    assert seeded <= _ids(found, "match")


def test_instance_operations_on_a_hidden_resource_look_missing(
    world: World, me: tuple[str, dict[str, str]]
) -> None:
    other = world.resources[("none", "diagnoses")]["id"]
    mine = world.resources[("active", "diagnoses")]["id"]
    hidden = world.client.post(
        f"/fhir/Condition/{other}/$validate", params={"mode": "delete"}, headers=me[1]
    )
    missing = world.client.post(
        "/fhir/Condition/no-such-id/$validate", params={"mode": "delete"}, headers=me[1]
    )
    own = world.client.post(
        f"/fhir/Condition/{mine}/$validate", params={"mode": "delete"}, headers=me[1]
    )
    assert hidden.status_code == missing.status_code == 404
    assert own.status_code == 200
