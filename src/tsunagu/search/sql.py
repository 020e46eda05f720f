"""SQL as data: fragments with `?` placeholders that the storage dialect executes.

The search package builds queries but never runs them, so it stays pure and testable; the
storage adapter adapts placeholders and encodes datetime parameters for its database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fragment:
    """A piece of SQL and its parameters, in order."""

    sql: str
    params: tuple[Any, ...] = field(default_factory=tuple)

    def __and__(self, other: Fragment) -> Fragment:
        return Fragment(f"({self.sql}) AND ({other.sql})", self.params + other.params)


TRUE = Fragment("1 = 1")
FALSE = Fragment("1 = 0")


def join(fragments: Iterable[Fragment], operator: str) -> Fragment:
    """Fragments combined with AND or OR; an empty AND is true and an empty OR is false."""
    items = list(fragments)
    if not items:
        return TRUE if operator == "AND" else FALSE
    if len(items) == 1:
        return items[0]
    sql = f" {operator} ".join(f"({f.sql})" for f in items)
    params: tuple[Any, ...] = ()
    for f in items:
        params += f.params
    return Fragment(sql, params)
