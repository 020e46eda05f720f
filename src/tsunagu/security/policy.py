"""Access decisions for one caller (pure): scopes, role rules, ownership, consent, disaster.

`Policy` is built once per request from the principal (and the categories a declared disaster
opens). It answers, for a resource type and letter (c r u d s), whether the interaction is
allowed at all, and, for a resource, whether the caller may see or change it. Reads that
depend on data (consent grants) take a `Grants` lookup; the same rules become SQL predicates
in `search.plan` through `read_modes`.
See docs/security.md for the rules as tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Protocol

from tsunagu.fhir.outcomes import FhirError
from tsunagu.security.categories import Category
from tsunagu.security.principal import Principal, Role
from tsunagu.security.resource_categories import CONSENT_CLASSES, AccessClass
from tsunagu.security.roles import role_allows
from tsunagu.security.scopes import ScopeSet

ANY_TYPE = "*"


class Mode(StrEnum):
    """How a readable class becomes visible to a facility."""

    OPEN = "open"  # always (data about no patient; the patient's own record)
    OWNED = "owned"  # only what the caller's facility wrote
    CONSENTED = "consented"  # owned, or a grant (consent, break-glass) for the category
    RELATED = "related"  # owned, or any grant for the patient (their demographics)


# Classes not about a patient: readable by whoever's role reads them.
_OPEN = frozenset({AccessClass.ADMINISTRATION, AccessClass.REFERENCE})
_OWNERLESS = frozenset({AccessClass.REFERENCE})  # anyone allowed may update or delete these


@dataclass(frozen=True)
class ResourceAccess:
    """What access control needs to know about one resource (or one version).

    `patient`: None when the resource is about no patient; "" when its type is patient data
    but it names no patient; "*" when it names several (treated as nobody's: owner only).
    """

    resource_type: str
    access_class: AccessClass
    facility: str | None
    patient: str | None


class Grants(Protocol):
    """Grant lookups for the caller's facility and subject, at the request's time."""

    def category(self, patient: str, category: Category) -> bool: ...

    def any(self, patient: str) -> bool: ...


def forbidden(ja: str, en: str) -> FhirError:
    return FhirError.of(403, "forbidden", f"{ja} / {en}")


@dataclass(frozen=True)
class Policy:
    principal: Principal
    disaster: frozenset[Category] = frozenset()
    scopes: ScopeSet = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", ScopeSet.parse(self.principal.scopes))

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def facility(self) -> str | None:
        return self.principal.facility

    @property
    def patient(self) -> str | None:
        return self.principal.patient

    # --- type level ---------------------------------------------------------------------

    def check_type(self, resource_type: str, letter: str, classes: frozenset[AccessClass]) -> None:
        """Raise 403 unless a scope and a role rule allow `letter` on some class the type
        can have (`classes`). The resource itself is checked later."""
        if not self.scopes.allows(resource_type, letter):
            raise forbidden(
                f"トークンのスコープに {resource_type} の '{letter}' 権限がありません",
                f"the token's scopes do not allow '{letter}' on {resource_type}",
            )
        if not any(role_allows(self.role, c, resource_type, letter) for c in classes):
            raise forbidden(
                f"役割 {self.role.value} は {resource_type} に '{letter}' できません",
                f"role {self.role.value} may not '{letter}' {resource_type}",
            )
        if self.confined(resource_type, letter) and not self.patient:
            raise forbidden(
                "patient/ スコープには患者の文脈が必要です",
                "patient/ scopes need a patient context in the token",
            )

    def confined(self, resource_type: str, letter: str) -> bool:
        """Whether access is limited to the token's patient compartment."""
        return self.role is Role.PATIENT or self.scopes.patient_only(resource_type, letter)

    def readable_types(self, resource_types: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t for t in resource_types if self.scopes.allows(t, "r"))

    def read_modes(self) -> Mapping[AccessClass, Mode]:
        """How each class the role reads becomes visible (absent classes: never).

        Only rules valid for every type count, so a type-specific rule never widens reads.
        """
        return self._modes

    @cached_property
    def _modes(self) -> Mapping[AccessClass, Mode]:
        modes: dict[AccessClass, Mode] = {}
        for access_class in AccessClass:
            if role_allows(self.role, access_class, ANY_TYPE, "r"):
                modes[access_class] = self._mode(access_class)
        return modes

    def _mode(self, access_class: AccessClass) -> Mode:
        if self.role is Role.PATIENT or access_class in _OPEN:
            return Mode.OPEN  # the patient is confined to their compartment instead
        if access_class in CONSENT_CLASSES:
            if Category(access_class.value) in self.disaster:
                return Mode.OPEN
            return Mode.CONSENTED
        if access_class is AccessClass.DEMOGRAPHICS:
            return Mode.RELATED
        return Mode.OWNED

    # --- resource level -----------------------------------------------------------------

    def can_read(self, access: ResourceAccess, grants: Grants) -> bool:
        """Whether the caller may see this resource (or version)."""
        if not self.scopes.allows(access.resource_type, "r"):
            return False
        mode = self.read_modes().get(access.access_class)
        if mode is None:
            return False
        if self.confined(access.resource_type, "r") and access.patient not in (None, self.patient):
            return False
        if mode is Mode.OPEN:
            return True
        if self.facility is not None and access.facility == self.facility:
            return True
        patient = access.patient
        if not patient or patient == "*":
            return False
        if mode is Mode.CONSENTED:
            return grants.category(patient, Category(access.access_class.value))
        if mode is Mode.RELATED:
            return grants.any(patient)
        return False

    def check_write(
        self, letter: str, access: ResourceAccess, *, current: ResourceAccess | None = None
    ) -> None:
        """Raise 403 unless the caller may `letter` (c u d) this resource.

        `access` describes the content being written (or, for d, the current one); `current`
        the version an update or delete replaces.
        """
        resource_type = access.resource_type
        self.check_type(resource_type, letter, frozenset({access.access_class}))
        for described in (access, current):
            if described is None:
                continue
            if not role_allows(self.role, described.access_class, resource_type, letter):
                raise forbidden(
                    f"役割 {self.role.value} は {described.access_class.value} の"
                    f" {resource_type} に '{letter}' できません",
                    f"role {self.role.value} may not '{letter}' {resource_type} of class"
                    f" {described.access_class.value}",
                )
            if self.confined(resource_type, letter) and described.patient not in (
                None,
                self.patient,
            ):
                raise forbidden(
                    "この患者のデータは書き込めません",
                    "this token may only write its own patient's data",
                )
        if (
            current is not None
            and self.role is not Role.PATIENT
            and current.access_class not in _OWNERLESS
            and (self.facility is None or current.facility != self.facility)
        ):
            raise forbidden(
                "他の施設が作成したリソースは更新・削除できません",
                "only the facility that wrote a resource may update or delete it",
            )
