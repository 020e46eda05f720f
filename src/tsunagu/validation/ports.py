"""The terminology port the validator calls for bindings (implemented in `terminology.py`).

See: https://hl7.org/fhir/R4/terminologies.html#binding
"""

from __future__ import annotations

from typing import Literal, Protocol

CodeCheck = Literal["valid", "invalid", "unknown"]


class Terminology(Protocol):
    """Answers whether a code is in a value set.

    `system` is None for a bare `code` element (the value set decides the system).
    "unknown" means the value set or its code system cannot be evaluated here (not vendored,
    not enumerated, e.g. SNOMED CT or LOINC): the validator then reports nothing.
    """

    def check_code(self, valueset_url: str, system: str | None, code: str) -> CodeCheck: ...


class NoTerminology:
    """A terminology that knows no value set: bindings are never reported."""

    def check_code(self, valueset_url: str, system: str | None, code: str) -> CodeCheck:
        return "unknown"
