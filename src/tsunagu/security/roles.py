"""What each role may do, per kind of information (pure data, read by `policy`).

A rule grants letters (c create, r read, u update, d delete, s search) on the resources of
some access classes, optionally only of some types. A role may do what any of its rules
grant, and nothing else. Scopes, consent and ownership narrow this further (policy.py).
The table is documented, cell by cell, in docs/security.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tsunagu.security.principal import Role
from tsunagu.security.resource_categories import (
    CONSENT_CLASSES,
    EMERGENCY_SUMMARY,
    AccessClass,
)

READ = "rs"
ALL = "cruds"
NO_DELETE = "crus"


@dataclass(frozen=True)
class Rule:
    classes: frozenset[AccessClass]
    letters: str
    types: frozenset[str] | None = None  # None: every type of those classes

    def grants(self, access_class: AccessClass, resource_type: str, letter: str) -> bool:
        return (
            letter in self.letters
            and access_class in self.classes
            and (self.types is None or resource_type in self.types)
        )


def _rule(letters: str, *classes: AccessClass, types: tuple[str, ...] | None = None) -> Rule:
    return Rule(frozenset(classes), letters, None if types is None else frozenset(types))


A = AccessClass
CLINICAL = tuple(sorted(CONSENT_CLASSES))
_EMERGENCY = tuple(A(c.value) for c in sorted(EMERGENCY_SUMMARY))
_PHARMACY = (A.PRESCRIPTIONS, A.ALLERGIES, A.CONTRAINDICATIONS, A.LABS)
_COMMON = _rule(READ, A.ADMINISTRATION, A.REFERENCE)  # facilities, staff, medications

_PHYSICIAN = (
    _rule(ALL, *CLINICAL, A.PATIENT_RECORD, A.IMMUNIZATIONS, A.DEMOGRAPHICS),
    _rule(READ, A.CHECKUPS),
    _rule(NO_DELETE, A.CONSENTS),
    _COMMON,
)

RULES: Mapping[Role, tuple[Rule, ...]] = {
    Role.PHYSICIAN: _PHYSICIAN,
    Role.DENTIST: _PHYSICIAN,
    # A facility system (Backend Services) acts for its facility like its clinicians.
    Role.SYSTEM: _PHYSICIAN,
    Role.NURSE: (
        _rule(READ, *CLINICAL, A.PATIENT_RECORD, A.IMMUNIZATIONS, A.CHECKUPS),
        _rule(NO_DELETE, A.LABS, A.PATIENT_RECORD, A.IMMUNIZATIONS, A.DEMOGRAPHICS),
        _rule(READ, A.CONSENTS),
        _COMMON,
    ),
    Role.PHARMACIST: (
        _rule(READ, *_PHARMACY, A.DEMOGRAPHICS),
        _rule(ALL, A.PRESCRIPTIONS, types=("MedicationDispense",)),
        _rule(NO_DELETE, A.CONSENTS),
        _COMMON,
    ),
    Role.EMERGENCY: (_rule(READ, *_EMERGENCY, A.DEMOGRAPHICS), _COMMON),
    Role.MUNICIPAL: (
        _rule(ALL, A.IMMUNIZATIONS, A.CHECKUPS),
        _rule(READ, A.DEMOGRAPHICS),
        _COMMON,
    ),
    # Nothing identifiable through the FHIR API: secondary use goes through its own service.
    Role.RESEARCHER: (_rule(READ, A.REFERENCE),),
    Role.ADMINISTRATOR: (
        _rule(ALL, A.ADMINISTRATION, A.REFERENCE),
        _rule(READ, A.AUDIT),
    ),
    # The patient reads their own record (confined by policy), gives and withdraws consents.
    Role.PATIENT: (
        _rule(
            READ,
            *CLINICAL,
            A.PATIENT_RECORD,
            A.IMMUNIZATIONS,
            A.CHECKUPS,
            A.DEMOGRAPHICS,
            A.AUDIT,
            A.CONSENTS,
        ),
        _rule("cu", A.CONSENTS),
        _COMMON,
    ),
}


def role_allows(role: Role, access_class: AccessClass, resource_type: str, letter: str) -> bool:
    """Whether the role's rules grant `letter` on this class and type."""
    return any(rule.grants(access_class, resource_type, letter) for rule in RULES.get(role, ()))


def readable_classes(role: Role, resource_type: str) -> frozenset[AccessClass]:
    """The classes of resources of `resource_type` the role may read."""
    return frozenset(c for c in AccessClass if role_allows(role, c, resource_type, "r"))
