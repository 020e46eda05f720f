"""The value sets a search can ask about (`code:in=`, `code:not-in=`): a port.

The search core does not know terminology; the composition root gives the registry an
implementation (`bootstrap.PackageValueSets`, over the conformance packages the validator
uses). `:in` matches a token whose (system, code) is in the value set's expansion, `:not-in`
a resource that has no such token. A value set is searchable only when it is expanded
completely here (every code listed); otherwise the search is refused rather than answered
with part of the codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MAX_CODES = 1000  # codes a value set may expand to for a search


@dataclass(frozen=True)
class ValueSetCodes:
    """A value set's codes as (system, code) pairs, each system in every spelling it has
    (its URI and its OID), and whether they are all of it."""

    codes: frozenset[tuple[str, str]]
    complete: bool


class ValueSets(Protocol):
    def value_set_codes(self, url: str) -> ValueSetCodes | None:
        """The codes of the value set at `url`, or None when the server does not know it."""
        ...
