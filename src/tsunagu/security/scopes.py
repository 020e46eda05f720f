"""SMART on FHIR scopes: parsing and evaluation (pure).

v2 form: `{patient|user|system}/{Type|*}.{cruds}` with the letters in that order
(c create, r read, u update, d delete, s search). v1 forms are read as their v2 meaning:
`.read` = `rs`, `.write` = `cud`, `.*` = `cruds`. Scopes with a query (`?category=...`,
v2 fine-grained) and anything else (`openid`, `launch`, `offline_access`...) grant no data
access here: unknown means no.
See: https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

LETTERS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": LETTERS}
_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)$")


class Level(StrEnum):
    PATIENT = "patient"  # confined to the token's patient compartment
    USER = "user"  # what the user may see
    SYSTEM = "system"  # what the client system may see


@dataclass(frozen=True)
class Scope:
    level: Level
    resource_type: str  # a type or "*"
    letters: frozenset[str]

    def covers(self, resource_type: str, letter: str) -> bool:
        return letter in self.letters and self.resource_type in ("*", resource_type)


def parse_scope(text: str) -> Scope | None:
    """One scope string, or None when it grants no resource access (or is malformed)."""
    found = _SCOPE.match(text.strip())
    if found is None:
        return None
    level, resource_type, permissions = found.groups()
    letters = _V1.get(permissions)
    if letters is None:
        letters = permissions
        # v2: each letter at most once, in c r u d s order.
        ranks = [LETTERS.find(letter) for letter in letters]
        if not letters or -1 in ranks or ranks != sorted(set(ranks)):
            return None
    return Scope(Level(level), resource_type, frozenset(letters))


@dataclass(frozen=True)
class ScopeSet:
    """The scopes a token grants."""

    scopes: tuple[Scope, ...]

    @classmethod
    def parse(cls, texts: Iterable[str]) -> ScopeSet:
        parsed = (parse_scope(part) for text in texts for part in text.split())
        return cls(tuple(s for s in parsed if s is not None))

    def levels(self, resource_type: str, letter: str) -> frozenset[Level]:
        """The levels of the scopes that allow `letter` on `resource_type` (empty: denied)."""
        return frozenset(s.level for s in self.scopes if s.covers(resource_type, letter))

    def allows(self, resource_type: str, letter: str) -> bool:
        return bool(self.levels(resource_type, letter))

    def patient_only(self, resource_type: str, letter: str) -> bool:
        """Allowed only through `patient/` scopes: confined to the token's patient."""
        return self.levels(resource_type, letter) == {Level.PATIENT}
