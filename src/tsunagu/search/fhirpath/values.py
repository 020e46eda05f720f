"""What evaluation produces: the public TypedValue and Extractor, and internal nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# A node during evaluation: (JSON value, type key). The key is a FHIR type code
# (`HumanName`, `dateTime`, `Patient`), a backbone owner key (`Patient.contact`), or "" when
# the type is unknown.
Node = tuple[Any, str]
Root = Mapping[str, Any]


class FHIRPathError(ValueError):
    """An expression that cannot be compiled, or that failed on a resource."""


@dataclass(frozen=True, slots=True)
class TypedValue:
    """One value an expression selected, with its FHIR type code (None if unknown)."""

    value: Any
    fhir_type: str | None
    # Owner key of a backbone element's children (`Observation.component`), else None.
    owner: str | None = None


class Extractor(Protocol):
    """A compiled expression: call it on a resource to get the values it selects."""

    expression: str
    fast: bool

    def __call__(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        """Evaluate on a resource (the expression's context and `%resource`)."""
        ...

    def evaluate(
        self, focus: Sequence[TypedValue], resource: Mapping[str, Any]
    ) -> list[TypedValue]:
        """Evaluate relative to `focus` (composite components), `resource` being `%resource`."""
        ...
