"""A shared world for the authorisation tests: one server per storage backend (module scope),
seeded by facility A with one resource per information category for five patients, one per
consent state towards facility B. Requests go over HTTP with real tokens (`auth`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.auth_tokens import TokenFactory
from tests.pgserver import create_database, drop_database
from tests.unit.security.consent_examples import sharing_consent
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.http.app import create_app
from tsunagu.security.categories import Category
from tsunagu.security.principal import Role
from tsunagu.settings import Settings

OWNER = "1318814790"  # facility A: wrote every clinical resource
CALLER = "2710000001"  # facility B: the facility whose access the matrix tests
OTHER = "4010000002"  # facility C: holds a consent, to show it does not help B
STATES = ("none", "active", "expired", "withdrawn", "other")
CATEGORIES = tuple(c.value for c in Category)
INFECTION_SYSTEM = (
    "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_InfectionLabo_CS"
)
LAB_SYSTEM = "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_CoreLabo_CS"
# The resource type the tests use for each category.
TYPE_OF = {
    "diagnoses": "Condition",
    "allergies": "AllergyIntolerance",
    "contraindications": "AllergyIntolerance",
    "infections": "Observation",
    "labs": "Observation",
    "prescriptions": "MedicationRequest",
    "documents": "DocumentReference",
}


def clinical(category: str, patient: str, marker: str = "seed") -> dict[str, Any]:
    """A minimal valid resource of the category about `patient`."""
    subject = {"reference": f"Patient/{patient}"}
    ident = [{"system": "urn:tsunagu:test", "value": f"{marker}-{category}-{patient}"}]
    if category == "diagnoses":
        return {
            "resourceType": "Condition",
            "identifier": ident,
            "subject": subject,
            "code": {"text": "高血圧症"},
        }
    if category in ("allergies", "contraindications"):
        kind = "medication" if category == "contraindications" else "food"
        return {
            "resourceType": "AllergyIntolerance",
            "identifier": ident,
            "patient": subject,
            "category": [kind],
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"text": "さば"},
        }
    if category in ("infections", "labs"):
        system = INFECTION_SYSTEM if category == "infections" else LAB_SYSTEM
        return {
            "resourceType": "Observation",
            "identifier": ident,
            "status": "final",
            "code": {"coding": [{"system": system, "code": "x1"}]},
            "subject": subject,
        }
    if category == "prescriptions":
        return {
            "resourceType": "MedicationRequest",
            "identifier": ident,
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "アムロジピン"},
            "subject": subject,
        }
    return {
        "resourceType": "DocumentReference",
        "identifier": ident,
        "status": "current",
        "subject": subject,
        "content": [{"attachment": {"contentType": "text/plain", "data": "5pys5paH"}}],
    }


@dataclass
class World:
    client: TestClient
    auth: TokenFactory
    platform: Platform
    patients: dict[str, str] = field(default_factory=dict)  # state -> Patient id
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def headers(
        self, role: Role | str, facility: str | None = CALLER, **more: Any
    ) -> dict[str, str]:
        return self.auth.headers(role, facility, **more)

    def patient_headers(self, patient: str) -> dict[str, str]:
        return self.auth.headers(Role.PATIENT, None, patient=patient)

    def consent_headers(self, patient: str) -> dict[str, str]:
        """A patient app that may give and withdraw the patient's consents."""
        scopes = "patient/*.rs patient/Consent.cu"
        return self.auth.headers(Role.PATIENT, None, patient=patient, scopes=scopes)

    def give_consent(self, consent: dict[str, Any]) -> dict[str, Any]:
        patient = consent["patient"]["reference"].removeprefix("Patient/")
        response = self.client.post(
            "/fhir/Consent", json=consent, headers=self.consent_headers(patient)
        )
        assert response.status_code == 201, response.text
        given: dict[str, Any] = response.json()
        return given

    def create(
        self, resource: dict[str, Any], facility: str = OWNER, role: Role = Role.PHYSICIAN
    ) -> dict[str, Any]:
        response = self.client.post(
            f"/fhir/{resource['resourceType']}", json=resource, headers=self.headers(role, facility)
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def _seed(world: World) -> None:
    for state in STATES:
        patient = world.create({"resourceType": "Patient", "name": [{"family": f"試験{state}"}]})
        world.patients[state] = patient["id"]
        for category in CATEGORIES:
            world.resources[(state, category)] = world.create(clinical(category, patient["id"]))
        every = list(CATEGORIES)
        # Consents are given (and withdrawn) by the patient, with a patient credential.
        if state == "active":
            world.give_consent(sharing_consent(patient["id"], CALLER, every))
        elif state == "expired":
            world.give_consent(sharing_consent(patient["id"], CALLER, every, end="2021-03-31"))
        elif state == "other":
            world.give_consent(sharing_consent(patient["id"], OTHER, every))
        elif state == "withdrawn":
            consent = world.give_consent(sharing_consent(patient["id"], CALLER, every))
            consent["status"] = "inactive"
            response = world.client.put(
                f"/fhir/Consent/{consent['id']}",
                json=consent,
                headers=world.consent_headers(patient["id"]),
            )
            assert response.status_code == 200, response.text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The seeded server, once per backend and test module."""
    name = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('authz')}/tsunagu.db"
    else:
        server = request.getfixturevalue("postgres_server")
        slug = re.sub(r"[^a-z0-9]+", "_", Path(str(request.node.name)).stem.lower())[:20]
        name = f"t_{slug}_{uuid.uuid4().hex[:12]}"
        url = create_database(server, name)
    platform = build_platform(Settings(database_url=url))
    try:
        with TestClient(create_app(platform)) as client:
            built = World(client, TokenFactory(platform), platform)
            _seed(built)
            yield built
    finally:
        platform.close()
        if name:
            drop_database(request.getfixturevalue("postgres_server"), name)
