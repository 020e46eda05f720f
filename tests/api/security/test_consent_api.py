"""Consent over the API: facilities propose, patients give and withdraw; withdrawal and
narrowing take effect at once; a facility can never grant itself access."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.security.conftest import CALLER, OWNER, World, clinical
from tests.unit.security.consent_examples import sharing_consent
from tsunagu.security.principal import Role


def _read(world: World, resource: dict[str, Any], headers: dict[str, str]) -> int:
    path = f"/fhir/{resource['resourceType']}/{resource['id']}"
    return world.client.get(path, headers=headers).status_code


@pytest.fixture
def fresh(world: World) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A new patient of facility A with a Condition and a lab result."""
    patient = world.create({"resourceType": "Patient", "name": [{"family": "同意"}]})["id"]
    condition = world.create(clinical("diagnoses", patient, "consent-api"))
    labs = world.create(clinical("labs", patient, "consent-api"))
    return patient, condition, labs


@pytest.mark.parametrize("status", ["active", "proposed"])
def test_a_facility_cannot_grant_itself_access(
    world: World, fresh: tuple[str, dict[str, Any], dict[str, Any]], status: str
) -> None:
    patient, condition, _ = fresh
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    consent = sharing_consent(patient, CALLER, ["diagnoses"], status=status)
    response = world.client.post("/fhir/Consent", json=consent, headers=doctor_b)
    if status == "proposed":  # proposing is fine: it grants nothing
        assert response.status_code == 201
        consent = response.json()
        consent["status"] = "active"  # ...but activating it is the patient's call
        response = world.client.put(
            f"/fhir/Consent/{consent['id']}", json=consent, headers=doctor_b
        )
    assert response.status_code == 403
    assert response.json()["issue"][0]["code"] == "forbidden"
    assert _read(world, condition, doctor_b) == 404


def test_the_patient_activates_a_proposed_consent(
    world: World, fresh: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    patient, condition, labs = fresh
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    proposed = world.client.post(
        "/fhir/Consent",
        json=sharing_consent(patient, CALLER, ["diagnoses", "labs"], status="proposed"),
        headers=doctor_b,
    ).json()
    proposed["status"] = "active"
    response = world.client.put(
        f"/fhir/Consent/{proposed['id']}", json=proposed, headers=world.consent_headers(patient)
    )
    assert response.status_code == 200, response.text
    tags = response.json()["meta"]["tag"]
    assert [t["code"] for t in tags if t["system"].endswith("/facility")] == [CALLER]
    assert _read(world, condition, doctor_b) == 200
    assert _read(world, labs, doctor_b) == 200
    # The facility may record the patient's narrowing: withdrawing one category.
    narrowed = response.json()
    narrowed["provision"]["code"] = narrowed["provision"]["code"][:1]  # diagnoses only
    kept = narrowed["provision"]["code"][0]["coding"][0]["code"]
    response = world.client.put(f"/fhir/Consent/{proposed['id']}", json=narrowed, headers=doctor_b)
    assert response.status_code == 200, response.text
    still, gone = (condition, labs) if kept == "diagnoses" else (labs, condition)
    assert _read(world, still, doctor_b) == 200
    assert _read(world, gone, doctor_b) == 404  # at once
    # ...but not widen it again.
    response = world.client.put(f"/fhir/Consent/{proposed['id']}", json=proposed, headers=doctor_b)
    assert response.status_code == 403


def test_withdrawal_by_the_patient_takes_effect_immediately(
    world: World, fresh: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    patient, condition, _ = fresh
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    consent = world.give_consent(sharing_consent(patient, CALLER, ["diagnoses"]))
    assert _read(world, condition, doctor_b) == 200
    consent["status"] = "inactive"
    response = world.client.put(
        f"/fhir/Consent/{consent['id']}", json=consent, headers=world.consent_headers(patient)
    )
    assert response.status_code == 200
    assert _read(world, condition, doctor_b) == 404


def test_a_patient_cannot_consent_for_another_patient(
    world: World, fresh: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    patient, _, _ = fresh
    someone = world.patients["none"]
    response = world.client.post(
        "/fhir/Consent",
        json=sharing_consent(patient, CALLER, ["diagnoses"]),
        headers=world.consent_headers(someone),
    )
    assert response.status_code == 403


def test_a_consent_for_the_future_grants_nothing_yet(
    world: World, fresh: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    patient, condition, _ = fresh
    world.give_consent(sharing_consent(patient, CALLER, ["diagnoses"], start="2099-01-01"))
    assert _read(world, condition, world.headers(Role.PHYSICIAN, CALLER)) == 404


def test_the_owner_always_sees_and_only_it_changes_its_data(
    world: World, fresh: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    patient, condition, _ = fresh
    world.give_consent(sharing_consent(patient, CALLER, ["diagnoses"]))
    owner = world.headers(Role.PHYSICIAN, OWNER)
    doctor_b = world.headers(Role.PHYSICIAN, CALLER)
    assert _read(world, condition, owner) == 200
    body = {k: v for k, v in condition.items() if k != "meta"}
    path = f"/fhir/Condition/{condition['id']}"
    assert world.client.put(path, json=body, headers=doctor_b).status_code == 403
    assert world.client.delete(path, headers=doctor_b).status_code == 403
    assert world.client.put(path, json=body, headers=owner).status_code == 200
    assert world.client.delete(path, headers=owner).status_code == 204
