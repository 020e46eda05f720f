"""Compiled StructureDefinitions by canonical URL, built once on first use and cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tsunagu.validation.model import Node, compile_snapshot
from tsunagu.validation.packages import PackageIndex

CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True)
class Profile:
    """A compiled StructureDefinition: its canonical URL, the type it constrains, its tree."""

    url: str
    type: str
    kind: str
    root: Node
    derivation: str


@dataclass(eq=False)
class Registry:
    """Compiles StructureDefinitions lazily; thread-safe enough (compiling twice is harmless)."""

    index: PackageIndex
    _compiled: dict[str, Profile | None] = field(default_factory=dict)
    _resource_types: frozenset[str] | None = None

    def profile(self, canonical: str) -> Profile | None:
        """The compiled profile for a canonical URL (`|version` ignored); None if unknown
        or without a snapshot."""
        if canonical in self._compiled:  # the common case: no `|version`, seen before
            return self._compiled[canonical]
        url = canonical.split("|", 1)[0]
        if url in self._compiled:
            return self._compiled[url]
        sd = self.index.structure_definition(url)
        compiled: Profile | None = None
        if sd is not None:
            elements = sd.get("snapshot", {}).get("element")
            if elements:
                compiled = Profile(
                    url,
                    str(sd.get("type")),
                    str(sd.get("kind")),
                    compile_snapshot(elements),
                    str(sd.get("derivation", "")),
                )
        self._compiled[url] = compiled
        return compiled

    def known(self, canonical: str) -> bool:
        return self.index.structure_definition(canonical.split("|", 1)[0]) is not None

    def definition(self, canonical: str) -> dict[str, Any] | None:
        return self.index.structure_definition(canonical.split("|", 1)[0])

    def base(self, type_code: str) -> Profile | None:
        """The core definition of a type (`Patient`, `HumanName`, `Extension`)."""
        return self.profile(CORE_PREFIX + type_code)

    def resource_types(self) -> frozenset[str]:
        """Concrete R4 resource types."""
        if self._resource_types is None:
            self._resource_types = frozenset(
                str(sd["type"])
                for sd in self.index.by_type("StructureDefinition")
                if sd.get("kind") == "resource"
                and sd.get("derivation") == "specialization"
                and not sd.get("abstract")
                and str(sd.get("url", "")).startswith(CORE_PREFIX)
            )
        return self._resource_types

    def type_of(self, canonical: str) -> str | None:
        """The type a profile constrains (`Patient` for JP_Patient)."""
        sd = self.definition(canonical)
        return None if sd is None else str(sd.get("type"))
