"""Equivalent system URIs: the OID and http forms that name the same code or identifier system.

JP Core 1.1.2 and JP-CLINS 1.5.2 name several systems differently (e.g. the HOT9 drug code
as `urn:oid:1.2.392.200119.4.403.1`, `http://jpfhir.jp/fhir/core/CodeSystem/JP_MedicationCodeHOT9_CS`
or `http://medis.or.jp/CodeSystem/master-HOT9`). Both generations must be accepted, so fixed
and pattern values compare system URIs through these groups. Sources: the NamingSystems of the
vendored packages and `data/jp-uri-aliases.json` (from the JP Core 1.2.0 NamingSystems).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from tsunagu.validation.packages import PackageIndex

ALIASES_FILE = "jp-uri-aliases.json"


class UriAliases:
    """Union of URI equivalence groups; `canonical` maps every URI to one representative."""

    def __init__(self, groups: Iterable[Iterable[str]] = ()) -> None:
        self._parent: dict[str, str] = {}
        for group in groups:
            self.add_group(group)

    def _find(self, uri: str) -> str:
        parent = self._parent.get(uri, uri)
        if parent == uri:
            return uri
        root = self._find(parent)
        self._parent[uri] = root
        return root

    def add_group(self, group: Iterable[str]) -> None:
        items = [u for u in group if u]
        if len(items) < 2:
            return
        first = self._find(items[0])
        for uri in items[1:]:
            root = self._find(uri)
            if root != first:
                self._parent[root] = first

    def canonical(self, uri: str) -> str:
        return self._find(uri) if uri in self._parent else uri

    def same(self, a: str, b: str) -> bool:
        return a == b or self.canonical(a) == self.canonical(b)

    def equivalents(self, uri: str) -> frozenset[str]:
        """Every URI known to name the same system (including `uri`)."""
        root = self.canonical(uri)
        return frozenset({uri} | {u for u in self._parent if self._find(u) == root})

    @classmethod
    @cache
    def load_default(cls) -> UriAliases:
        index = PackageIndex.load_default()
        data = (resources.files("tsunagu.validation") / "data" / ALIASES_FILE).read_text("utf-8")
        aliases = cls(json.loads(data))
        for naming_system in index.by_type("NamingSystem"):
            aliases.add_group(naming_system_uris(naming_system))
        return aliases


def naming_system_uris(naming_system: dict[str, Any]) -> list[str]:
    """The URIs of a NamingSystem's uniqueIds (an OID as `urn:oid:...`)."""
    found = []
    for unique in naming_system.get("uniqueId") or ():
        value = unique.get("value")
        if not isinstance(value, str):
            continue
        if unique.get("type") == "oid" and not value.startswith("urn:oid:"):
            value = "urn:oid:" + value
        found.append(value)
    return found


def equal(value: Any, expected: Any, aliases: UriAliases) -> bool:
    """JSON equality where strings naming the same system compare equal."""
    if value == expected:
        return True
    if isinstance(value, str) and isinstance(expected, str):
        return aliases.same(value, expected)
    if isinstance(value, dict) and isinstance(expected, dict):
        return value.keys() == expected.keys() and all(
            equal(value[k], expected[k], aliases) for k in value
        )
    if isinstance(value, list) and isinstance(expected, list):
        return len(value) == len(expected) and all(
            equal(v, e, aliases) for v, e in zip(value, expected, strict=True)
        )
    return False


def contains(value: Any, pattern: Any, aliases: UriAliases) -> bool:
    """FHIR pattern semantics: every property of the pattern is present in the value."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(
            key in value and contains(value[key], sub, aliases) for key, sub in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains(v, p, aliases) for v in items) for p in pattern)
    return equal(value, pattern, aliases)
