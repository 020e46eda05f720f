"""Pure access decisions: scopes x roles x ownership x grants x disaster."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tsunagu.fhir.outcomes import FhirError
from tsunagu.security.categories import Category
from tsunagu.security.policy import Mode, Policy, ResourceAccess
from tsunagu.security.principal import Principal, Role
from tsunagu.security.resource_categories import EMERGENCY_SUMMARY, AccessClass
from tsunagu.security.roles import RULES, role_allows

A, B = "1318814790", "2710000001"


@dataclass
class FakeGrants:
    categories: set[tuple[str, Category]] = field(default_factory=set)

    def category(self, patient: str, category: Category) -> bool:
        return (patient, category) in self.categories

    def any(self, patient: str) -> bool:
        return any(p == patient for p, _ in self.categories)


def policy(
    role: Role,
    facility: str | None = A,
    patient: str | None = None,
    scopes: str = "user/*.cruds",
    disaster: frozenset[Category] = frozenset(),
) -> Policy:
    principal = Principal("sub", role, "client", facility, patient, tuple(scopes.split()))
    return Policy(principal, disaster)


def condition(facility: str | None = B, patient: str = "p1") -> ResourceAccess:
    return ResourceAccess("Condition", AccessClass.DIAGNOSES, facility, patient)


def test_a_facility_sees_its_own_data_and_others_only_under_a_grant() -> None:
    doctor = policy(Role.PHYSICIAN)
    assert doctor.can_read(condition(facility=A), FakeGrants())
    assert not doctor.can_read(condition(), FakeGrants())
    assert doctor.can_read(condition(), FakeGrants({("p1", Category.DIAGNOSES)}))
    assert not doctor.can_read(condition(), FakeGrants({("p1", Category.LABS)}))
    assert not doctor.can_read(condition(), FakeGrants({("p2", Category.DIAGNOSES)}))


def test_a_declared_disaster_opens_its_categories() -> None:
    doctor = policy(Role.PHYSICIAN, disaster=frozenset({Category.DIAGNOSES}))
    assert doctor.can_read(condition(), FakeGrants())
    labs = ResourceAccess("Observation", AccessClass.LABS, B, "p1")
    assert not doctor.can_read(labs, FakeGrants())


def test_demographics_need_a_relationship() -> None:
    doctor = policy(Role.PHYSICIAN)
    patient = ResourceAccess("Patient", AccessClass.DEMOGRAPHICS, B, "p1")
    assert not doctor.can_read(patient, FakeGrants())
    assert doctor.can_read(patient, FakeGrants({("p1", Category.LABS)}))


def test_a_resource_of_several_or_no_patients_is_seen_by_its_owner_only() -> None:
    doctor = policy(Role.PHYSICIAN)
    grants = FakeGrants({("*", Category.DIAGNOSES), ("", Category.DIAGNOSES)})
    assert not doctor.can_read(condition(patient="*"), grants)
    assert not doctor.can_read(condition(patient=""), grants)
    assert doctor.can_read(condition(facility=A, patient="*"), grants)


def test_the_patient_sees_exactly_their_own_compartment() -> None:
    me = policy(Role.PATIENT, facility=None, patient="p1", scopes="patient/*.rs")
    assert me.can_read(condition(patient="p1"), FakeGrants())
    assert not me.can_read(condition(patient="p2"), FakeGrants())
    assert not me.can_read(condition(patient=""), FakeGrants())
    assert me.can_read(
        ResourceAccess("Organization", AccessClass.ADMINISTRATION, B, None), FakeGrants()
    )
    assert me.can_read(ResourceAccess("AuditEvent", AccessClass.AUDIT, None, "p1"), FakeGrants())
    assert not me.can_read(
        ResourceAccess("AuditEvent", AccessClass.AUDIT, None, "p2"), FakeGrants()
    )


def test_patient_scopes_confine_a_clinician_too() -> None:
    app = policy(Role.PHYSICIAN, patient="p1", scopes="patient/*.rs")
    assert app.can_read(condition(facility=A, patient="p1"), FakeGrants())
    assert not app.can_read(condition(facility=A, patient="p2"), FakeGrants())
    with pytest.raises(FhirError) as caught:
        policy(Role.PHYSICIAN, scopes="patient/*.rs").check_type(
            "Condition", "r", frozenset({AccessClass.DIAGNOSES})
        )
    assert caught.value.status == 403


def test_scopes_bound_what_the_role_allows() -> None:
    doctor = policy(Role.PHYSICIAN, scopes="user/Observation.rs")
    assert not doctor.can_read(condition(facility=A), FakeGrants())
    with pytest.raises(FhirError) as caught:
        doctor.check_type("Condition", "s", frozenset({AccessClass.DIAGNOSES}))
    assert caught.value.status == 403
    assert caught.value.issues[0].code == "forbidden"


def test_a_pharmacist_dispenses_but_never_diagnoses() -> None:
    pharmacist = policy(Role.PHARMACIST)
    dispense = ResourceAccess("MedicationDispense", AccessClass.PRESCRIPTIONS, A, "p1")
    pharmacist.check_write("c", dispense)
    with pytest.raises(FhirError):
        pharmacist.check_write(
            "c", ResourceAccess("MedicationRequest", AccessClass.PRESCRIPTIONS, A, "p1")
        )
    with pytest.raises(FhirError):
        pharmacist.check_write("c", condition(facility=A))
    assert not pharmacist.can_read(condition(facility=A), FakeGrants())


def test_only_the_owner_updates_or_deletes() -> None:
    doctor = policy(Role.PHYSICIAN)
    doctor.check_write("u", condition(facility=A), current=condition(facility=A))
    for letter in ("u", "d"):
        with pytest.raises(FhirError) as caught:
            doctor.check_write(letter, condition(facility=A), current=condition(facility=B))
        assert caught.value.status == 403
    doctor.check_write("c", condition(facility=A, patient="unrelated"))  # the author may create


@pytest.mark.parametrize("role", list(Role))
def test_read_modes_follow_the_role_table(role: Role) -> None:
    modes = policy(role, patient="p1").read_modes()
    for access_class in AccessClass:
        assert (access_class in modes) is role_allows(role, access_class, "*", "r")
    if role is Role.PATIENT:
        assert set(modes.values()) == {Mode.OPEN}


def test_the_emergency_team_reads_the_emergency_summary_only() -> None:
    readable = set(policy(Role.EMERGENCY).read_modes())
    clinical = readable - {
        AccessClass.DEMOGRAPHICS,
        AccessClass.ADMINISTRATION,
        AccessClass.REFERENCE,
    }
    assert clinical == {AccessClass(c.value) for c in EMERGENCY_SUMMARY}


def test_researchers_and_administrators_read_no_clinical_data() -> None:
    for role in (Role.RESEARCHER, Role.ADMINISTRATOR):
        readable = set(policy(role).read_modes())
        assert not readable & {AccessClass(c.value) for c in Category}
        assert AccessClass.DEMOGRAPHICS not in readable


def test_every_role_has_rules() -> None:
    assert set(RULES) == set(Role)
