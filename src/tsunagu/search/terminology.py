"""The terminology a search can ask about: a port.

- `code:in=` / `code:not-in=` a value set: a token whose (system, code) is (not) in the value
  set's expansion;
- `code:below=` / `code:above=` `system|code`: a token whose code is the given one or one it
  subsumes (below) or that subsumes it (above) in the code system's hierarchy.

The search core does not know terminology; the composition root gives the registry an
implementation (`bootstrap.PackageSearchTerminology`, over the conformance packages the
validator uses). A value set or hierarchy is used only when the server can list all of its
codes; otherwise the search is refused rather than answered with part of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

MAX_CODES = 1000  # codes a value set or a hierarchy may give a search
Direction = Literal["above", "below"]


@dataclass(frozen=True)
class ValueSetCodes:
    """A value set's codes as (system, code) pairs, each system in every spelling it has
    (its URI and its OID), and whether they are all of it."""

    codes: frozenset[tuple[str, str]]
    complete: bool


class Terminology(Protocol):
    def value_set_codes(self, url: str) -> ValueSetCodes | None:
        """The codes of the value set at `url`, or None when the server does not know it."""
        ...

    def related_codes(
        self, system: str, code: str, direction: Direction
    ) -> frozenset[tuple[str, str]] | None:
        """`code` and the codes below (or above) it in code system `system`, each system in
        every spelling; None when the server cannot list the system's codes or has not
        this code."""
        ...
