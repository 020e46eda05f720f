"""`Validator`: the `ResourceValidator` of Tsunagu (R4 structure, JP Core, JP-CLINS).

See: https://hl7.org/fhir/R4/validation.html
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tsunagu.fhir.outcomes import Issue
from tsunagu.validation import messages as msg
from tsunagu.validation.aliases import UriAliases
from tsunagu.validation.invariants import Invariants
from tsunagu.validation.packages import PackageIndex
from tsunagu.validation.ports import NoTerminology, Terminology
from tsunagu.validation.registry import Profile, Registry
from tsunagu.validation.walker import Shared, Walk


class Validator:
    """Validates resources; profiles are compiled on first use and kept for the process."""

    def __init__(
        self, index: PackageIndex | None = None, terminology: Terminology | None = None
    ) -> None:
        self.index = index if index is not None else PackageIndex.load_default()
        self.registry = Registry(self.index)
        self._shared = Shared(
            self.registry,
            Invariants(),
            terminology or NoTerminology(),
            UriAliases.load_default(),
        )

    @property
    def invariants(self) -> Invariants:
        return self._shared.invariants

    def knows_profile(self, url: str) -> bool:
        """True if a StructureDefinition with this canonical URL is known."""
        return self.registry.known(url)

    def validate(self, resource: dict[str, Any], *, profiles: Sequence[str] = ()) -> list[Issue]:
        """Every issue of `resource` against R4, its known meta.profile and `profiles`."""
        walk = Walk(self._shared)
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        known = isinstance(kind, str) and kind in self.registry.resource_types()
        path = kind if known and isinstance(kind, str) else "Resource"
        compiled: list[Profile] = []
        for url in profiles:
            profile = self.registry.profile(url)
            if profile is None:
                walk.add("not-supported", msg.unknown_profile(url, required=True), path)
            else:
                compiled.append(profile)
        compiled.extend(walk.profiles_of(resource, (), path))
        unique = {p.url: p for p in compiled}
        walk.resource(resource, path, tuple(unique.values()), None)
        return list(walk.issues.values())
