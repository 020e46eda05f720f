"""Break-glass: who may declare it, that it needs a reason, opens only the emergency
summary for the declaring person, expires, and is audited; a declared disaster opens the
categories disaster mode returns."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.api.security.conftest import CALLER, World
from tsunagu.interactions import access
from tsunagu.security.categories import Category
from tsunagu.security.principal import Role

REASON = {
    "resourceType": "Parameters",
    "parameter": [{"name": "reason", "valueString": "意識障害で搬送中"}],
}


def _status(world: World, path: str, headers: dict[str, str]) -> int:
    return world.client.get(f"/fhir/{path}", headers=headers).status_code


def _path(world: World, state: str, category: str) -> str:
    resource = world.resources[(state, category)]
    return f"{resource['resourceType']}/{resource['id']}"


def test_an_emergency_team_opens_the_emergency_summary_only_for_itself(world: World) -> None:
    patient = world.patients["none"]
    team = world.headers(Role.EMERGENCY, CALLER, subject="team-1")
    colleague = world.headers(Role.EMERGENCY, CALLER, subject="team-2")
    assert _status(world, _path(world, "none", "diagnoses"), team) == 404
    response = world.client.post(f"/fhir/Patient/{patient}/$break-glass", json=REASON, headers=team)
    assert response.status_code == 200, response.text
    out = {p["name"]: p for p in response.json()["parameter"]}
    assert datetime.fromisoformat(out["expires"]["valueInstant"]) > datetime.now().astimezone()
    codes = {p["valueCode"] for p in response.json()["parameter"] if p["name"] == "category"}
    assert codes == {"allergies", "contraindications", "diagnoses", "prescriptions", "infections"}
    for category in sorted(codes):
        assert _status(world, _path(world, "none", category), team) == 200, category
    assert _status(world, _path(world, "none", "labs"), team) == 404
    assert _status(world, _path(world, "none", "documents"), team) == 403  # never for the team
    assert _status(world, _path(world, "none", "diagnoses"), colleague) == 404
    assert _status(world, _path(world, "other", "diagnoses"), team) == 404  # another patient


def test_a_physician_may_break_the_glass_but_gets_no_more_than_the_summary(world: World) -> None:
    doctor = world.headers(Role.PHYSICIAN, CALLER, subject="dr-glass")
    patient = world.patients["expired"]
    response = world.client.post(
        f"/fhir/Patient/{patient}/$break-glass", params={"reason": "心肺停止"}, headers=doctor
    )
    assert response.status_code == 200
    assert _status(world, _path(world, "expired", "prescriptions"), doctor) == 200
    assert _status(world, _path(world, "expired", "labs"), doctor) == 404
    assert _status(world, _path(world, "expired", "documents"), doctor) == 404


@pytest.mark.parametrize(
    "role", [Role.NURSE, Role.PHARMACIST, Role.MUNICIPAL, Role.RESEARCHER, Role.ADMINISTRATOR]
)
def test_other_roles_may_not_break_the_glass(world: World, role: Role) -> None:
    patient = world.patients["none"]
    response = world.client.post(
        f"/fhir/Patient/{patient}/$break-glass", json=REASON, headers=world.headers(role, CALLER)
    )
    assert response.status_code == 403
    assert response.json()["issue"][0]["code"] == "forbidden"


def test_a_patient_may_not_break_the_glass(world: World) -> None:
    patient = world.patients["none"]
    response = world.client.post(
        f"/fhir/Patient/{patient}/$break-glass", json=REASON, headers=world.patient_headers(patient)
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"resourceType": "Parameters", "parameter": []},
        {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "  "}]},
    ],
)
def test_a_reason_is_required(world: World, body: object) -> None:
    team = world.headers(Role.EMERGENCY, CALLER, subject="team-no-reason")
    response = world.client.post(
        f"/fhir/Patient/{world.patients['none']}/$break-glass", json=body, headers=team
    )
    assert response.status_code == 400
    assert "reason" in response.json()["issue"][0]["diagnostics"]
    assert _status(world, _path(world, "none", "diagnoses"), team) == 404


def test_break_glass_on_a_missing_patient_is_404(world: World) -> None:
    team = world.headers(Role.EMERGENCY, CALLER)
    response = world.client.post("/fhir/Patient/missing-1/$break-glass", json=REASON, headers=team)
    assert response.status_code == 404


def test_break_glass_expires(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUNAGU_BREAK_GLASS_HOURS", str(1.5 / 3600))  # 1.5 seconds
    team = world.headers(Role.EMERGENCY, CALLER, subject="team-brief")
    patient = world.patients["withdrawn"]
    response = world.client.post(f"/fhir/Patient/{patient}/$break-glass", json=REASON, headers=team)
    assert response.status_code == 200
    assert _status(world, _path(world, "withdrawn", "diagnoses"), team) == 200
    time.sleep(2)
    assert _status(world, _path(world, "withdrawn", "diagnoses"), team) == 404


def test_break_glass_is_in_the_patients_access_history(world: World) -> None:
    patient = world.patients["other"]
    team = world.headers(Role.EMERGENCY, CALLER, subject="team-audited")
    response = world.client.post(f"/fhir/Patient/{patient}/$break-glass", json=REASON, headers=team)
    assert response.status_code == 200
    events = world.client.get(
        "/fhir/AuditEvent", params={"_count": "200"}, headers=world.patient_headers(patient)
    )
    assert events.status_code == 200
    purposes = [
        c.get("code")
        for e in events.json().get("entry", [])
        for p in e["resource"].get("purposeOfEvent", [])
        for c in p.get("coding", [])
    ]
    assert "ETREAT" in purposes


def test_a_declared_disaster_opens_its_categories(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disaster(ctx: object, facility: str, at: datetime) -> frozenset[Category]:
        return frozenset({Category.DIAGNOSES}) if facility == CALLER else frozenset()

    monkeypatch.setattr(access, "DISASTER_TTL", 0.0)  # no reuse of an earlier answer
    monkeypatch.setattr(access, "_DISASTERS", {})  # ...nor of this one, after the test
    doctor = world.headers(Role.PHYSICIAN, CALLER, subject="dr-disaster")
    assert _status(world, _path(world, "none", "diagnoses"), doctor) == 404
    monkeypatch.setattr(access, "disaster_categories", disaster)
    assert _status(world, _path(world, "none", "diagnoses"), doctor) == 200
    assert _status(world, _path(world, "none", "labs"), doctor) == 404
    found = world.client.get(
        "/fhir/Condition", params={"_total": "accurate", "_count": "100"}, headers=doctor
    ).json()
    assert found["total"] >= 5  # every patient's diagnoses
