"""Profile validation: R4 structure, JP Core and JP-CLINS profiles, compiled once.

Pure: definitions are read from vendored package data; no I/O beyond that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tsunagu.fhir.outcomes import Issue


class ResourceValidator(Protocol):
    """Validates one resource against R4 structure, its `meta.profile` and `profiles`.

    Returns every issue found (errors, warnings, information), each with the FHIRPath
    `expression` of the offending element; an empty list means valid.
    """

    def validate(
        self, resource: dict[str, Any], *, profiles: Sequence[str] = ()
    ) -> list[Issue]: ...
