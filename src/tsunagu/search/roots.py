"""Which top-level elements an expression reads, so indexing can skip absent parameters.

Most of a type's ~40 search parameters look at elements a given resource does not have.
When an expression only navigates (no `exists()`, `empty()`, boolean operators or
environment variables that could produce a value from absence), it yields nothing unless one
of the elements it starts from is present; `index.py` then skips it without evaluating.
`tests/unit/search/test_roots.py` checks on every R4 example that skipping changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

# Anything that can turn "no element" into a value: evaluate such expressions always.
_UNSAFE = re.compile(
    r"%|\b(?:exists|empty|not|count|iif|hasValue|today|now|allTrue|anyTrue|allFalse|anyFalse"
    r"|isDistinct|subsetOf|supersetOf)\s*\(|\s(?:and|or|xor|implies)\s"
)


def expression_roots(
    expression: str, resource_type: str, components: Sequence[str] = ()
) -> frozenset[str] | None:
    """Top-level element names the expression starts from, or None if it must always run.

    For a composite parameter whose expression is the resource itself (`Observation`), the
    roots are where its `components` (relative expressions) start.
    """
    if _UNSAFE.search(expression) or any(_UNSAFE.search(c) for c in components):
        return None
    branches = _branches(expression)
    roots: set[str] = set()
    for branch in branches:
        if branch.strip() == resource_type and components:
            for component in components:
                start = re.match(r"\(?\s*(\w+)", component.strip())
                if start is None:
                    return None
                roots.add(start.group(1))
            continue
        match = re.match(r"\(?\s*(\w+)\.(\w+)(?:\.(\w+))?", branch.strip())
        if match is None:
            return None
        owner, element, child = match.groups()
        if owner in (resource_type, "Resource", "DomainResource"):
            # Every stored resource has `meta` (versionId...): look one level deeper there.
            roots.add(f"meta.{child}" if element == "meta" and child else element)
        elif not owner[:1].isupper():
            return None  # not rooted at a type name: cannot tell
        # Other types' branches never apply to this type.
    return frozenset(roots)


def _branches(expression: str) -> list[str]:
    """Top-level `|` branches (unions inside parentheses or where() stay whole)."""
    branches: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in expression:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "|" and depth == 0:
            branches.append("".join(current))
            current = []
        else:
            current.append(ch)
    branches.append("".join(current))
    return branches


def element_names(resource: Mapping[str, Any]) -> frozenset[str]:
    """A resource's top-level keys, their choice-type base names (`valueQuantity` gives
    `value` too) and `meta.<key>` for each key of meta: the names `roots` are checked against."""
    meta = resource.get("meta")
    return _names(tuple(resource), tuple(meta) if isinstance(meta, dict) else ())


@lru_cache(maxsize=4096)
def _names(keys: tuple[str, ...], meta_keys: tuple[str, ...]) -> frozenset[str]:
    """`element_names` of a shape (resources of a type come in a few shapes)."""
    names = set()
    for key in keys:
        names.add(key)
        for index in range(1, len(key)):
            if key[index].isupper():
                names.add(key[:index])
    names.update(f"meta.{key}" for key in meta_keys)
    return frozenset(names)


def present(roots: frozenset[str], names: frozenset[str]) -> bool:
    """Whether any of the roots is among a resource's `element_names`."""
    return not roots.isdisjoint(names)
