"""Terminology from the vendored packages: ValueSet expansion and code membership.

Answers "is this code in this value set?" with `valid`, `invalid` or `unknown` from the
ValueSets, CodeSystems and NamingSystems of R4 core and the JP packages, without a
terminology server. A value set is expanded once (compose.include / exclude: whole systems,
concept lists, `is-a` / `descendent-of` / `is-not-a` / `=` / `in` / `regex` / `exists`
filters, imported value sets) and cached as frozensets.

Codes of systems whose content is not in the packages (SNOMED CT, LOINC, UCUM, MEDIS and
JLAC masters, YJ codes, ...) cannot be checked: they are `unknown`, never an error. A system
URI and its OID (`urn:oid:...`) are aliases, as are the JP Core 1.1.2 and JP-CLINS 1.5.2
URIs of the same code system (they share the OID; see the NamingSystems).
See: https://hl7.org/fhir/R4/valueset.html#compositions
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from tsunagu.validation.ports import CodeCheck

Membership = CodeCheck

# Code systems that are too large (or licensed) to ship: any CodeSystem resource a package
# carries for them is a fragment at best (JP-CLINS ships `http://loinc.org` with 2 codes,
# marked "complete").
EXTERNAL_SYSTEMS = frozenset(
    {
        "http://loinc.org",
        "http://snomed.info/sct",
        "http://unitsofmeasure.org",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-9-cm",
        "http://hl7.org/fhir/sid/ndc",
        "http://hl7.org/fhir/sid/cvx",
        "http://www.ama-assn.org/go/cpt",
        "http://unstats.un.org/unsd/methods/m49/m49.htm",
        "urn:ietf:bcp:47",
        "urn:ietf:bcp:13",
        "urn:iso:std:iso:3166",
        "urn:iso:std:iso:4217",
        "http://dicom.nema.org/resources/ontology/DCM",
    }
)
# Aliases the NamingSystems do not state (NOTES.md §3.6; YJ has two OIDs in use).
EXTRA_ALIASES: tuple[tuple[str, ...], ...] = (
    ("urn:oid:1.2.392.100495.20.1.73", "urn:oid:1.2.392.100495.20.2.73"),
    ("http://jami.jp/CodeSystem/MedicationUsage", "urn:oid:1.2.392.200250.2.2.20.20"),
)
_COMPLETE = "complete"
# Answers of `check_code` kept per instance; the memo is emptied when it reaches this size
# (codes come from requests, so it must not grow without bound).
MEMO_SIZE = 65536


class ConformanceSource(Protocol):
    """Where conformance resources come from (`PackageIndex` implements it)."""

    def get(self, url: str) -> Mapping[str, Any] | None: ...

    def by_type(self, resource_type: str) -> Iterable[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class Expansion:
    """The codes of a value set, with systems canonicalised.

    `codes` holds (system, code) pairs; `open_systems` the systems included whose content is
    not enumerable here (a code of one of them that is not in `codes` is `unknown`);
    `complete` is False when part of the definition could not be expanded at all (an
    unknown imported value set, an unsupported filter on an unknown property), in which case
    nothing outside `codes` can be called invalid.
    """

    codes: frozenset[tuple[str, str]]
    open_systems: frozenset[str]
    complete: bool

    @cached_property
    def code_values(self) -> frozenset[str]:
        return frozenset(code for _, code in self.codes)

    def member(self, system: str | None, code: str) -> Membership:
        if system is None:
            if code in self.code_values:
                return "valid"
        elif (system, code) in self.codes:
            return "valid"
        if not self.complete or (
            self.open_systems and (system is None or system in self.open_systems)
        ):
            return "unknown"
        return "invalid"


@dataclass(frozen=True)
class _CodeSystem:
    url: str
    complete: bool  # every code is listed (content = complete, not an external system)
    codes: frozenset[str]
    parents: Mapping[str, frozenset[str]]  # code -> its direct parents
    properties: Mapping[str, Mapping[str, frozenset[str]]]  # code -> property -> values
    children: Mapping[str, frozenset[str]]  # code -> its direct children

    def descendants(self, code: str) -> frozenset[str]:
        """Every code below `code` (not including it)."""
        found: set[str] = set()
        stack = [code]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return frozenset(found)

    def ancestors(self, code: str) -> frozenset[str]:
        found: set[str] = set()
        stack = [code]
        while stack:
            for parent in self.parents.get(stack.pop(), ()):
                if parent not in found:
                    found.add(parent)
                    stack.append(parent)
        return frozenset(found)


class _Unexpandable(Exception):
    """Part of a value set cannot be expanded with what the packages hold."""


class PackageTerminology:
    """Value set membership over the conformance resources of `source`: implements
    `tsunagu.validation.ports.Terminology`.

    Expansions and code systems are built on first use and cached; instances are safe to
    share between threads (a race at worst builds the same frozen value twice).
    """

    def __init__(self, source: ConformanceSource) -> None:
        self._source = source
        self._aliases = _alias_map(source)
        self._systems: dict[str, _CodeSystem | None] = {}
        self._expansions: dict[str, Expansion | None] = {}
        self._by_url: dict[str, Mapping[str, Any]] | None = None
        self._answers: dict[tuple[str, str | None, str], Membership] = {}
        self._spellings: dict[str, frozenset[str]] | None = None

    # --- the port and its helpers ---------------------------------------------------------

    def canonical_system(self, system: str) -> str:
        """The one URI standing for `system` and all its aliases."""
        return self._aliases.get(system, system)

    def system_spellings(self, system: str) -> frozenset[str]:
        """Every URI that names the same code system as `system` (its URI and OIDs)."""
        if self._spellings is None:
            spellings: dict[str, set[str]] = {}
            for alias, canonical in self._aliases.items():
                spellings.setdefault(canonical, {canonical}).add(alias)
            self._spellings = {c: frozenset(found) for c, found in spellings.items()}
        canonical = self.canonical_system(system)
        return self._spellings.get(canonical, frozenset({canonical, system}))

    def same_system(self, a: str, b: str) -> bool:
        """Whether two system URIs name the same code system (URI/OID/version drift)."""
        return self.canonical_system(a) == self.canonical_system(b)

    def knows_value_set(self, url: str) -> bool:
        return self._value_set(url) is not None

    def expansion(self, value_set: str) -> Expansion | None:
        """The expansion of a value set, or None when the packages do not define it."""
        url = _strip_version(value_set)
        if url not in self._expansions:
            self._expansions[url] = self._expand_url(url, frozenset())
        return self._expansions[url]

    def check_code(self, valueset_url: str, system: str | None, code: str) -> Membership:
        """Whether `code` (of `system`, when given) is in the value set (the port)."""
        key = (valueset_url, system, code)
        found = self._answers.get(key)
        if found is None:
            expansion = self.expansion(valueset_url)
            if expansion is None:
                found = "unknown"
            else:
                canonical = (
                    None if system is None else self.canonical_system(_strip_version(system))
                )
                found = expansion.member(canonical, code)
            if len(self._answers) >= MEMO_SIZE:
                self._answers.clear()
            self._answers[key] = found
        return found

    def related_codes(self, system: str, code: str, *, below: bool) -> frozenset[str] | None:
        """`code` and every code it subsumes (`below`) or that subsumes it, in a code system
        whose codes are all listed here; None when the system is not, or lacks `code`."""
        found = self._code_system(self.canonical_system(_strip_version(system)))
        if found is None or not found.complete or code not in found.codes:
            return None
        return frozenset({code}) | (found.descendants(code) if below else found.ancestors(code))

    def validate_in_system(self, system: str, code: str) -> Membership:
        """Whether `code` exists in code system `system` (unknown when not enumerable)."""
        found = self._code_system(self.canonical_system(_strip_version(system)))
        if found is None or not found.complete:
            return "unknown" if found is None or code not in found.codes else "valid"
        return "valid" if code in found.codes else "invalid"

    # --- expansion ----------------------------------------------------------------------

    def _expand_url(self, url: str, seen: frozenset[str]) -> Expansion | None:
        resource = self._value_set(url)
        if resource is None:
            return None
        try:
            return self._expand(resource, seen | {url})
        except _Unexpandable:
            return Expansion(frozenset(), frozenset(), complete=False)

    def _expand(self, resource: Mapping[str, Any], seen: frozenset[str]) -> Expansion:
        compose = resource.get("compose")
        if not isinstance(compose, Mapping):
            contains = resource.get("expansion", {}).get("contains", [])
            listed = frozenset(
                (self.canonical_system(str(c.get("system", ""))), str(c["code"]))
                for c in _flatten(contains)
                if "code" in c
            )
            return Expansion(listed, frozenset(), complete=bool(listed))
        codes: set[tuple[str, str]] = set()
        open_systems: set[str] = set()
        complete = True
        for include in compose.get("include", []):
            part = self._part(include, seen)
            codes |= part.codes
            open_systems |= part.open_systems
            complete = complete and part.complete
        for exclude in compose.get("exclude", []):
            part = self._part(exclude, seen)
            codes -= part.codes
        return Expansion(frozenset(codes), frozenset(open_systems), complete)

    def _part(self, item: Mapping[str, Any], seen: frozenset[str]) -> Expansion:
        """One include/exclude: the intersection of its system part and its value sets."""
        imported: list[Expansion] = []
        for reference in item.get("valueSet", []):
            url = _strip_version(str(reference))
            if url in seen:
                raise _Unexpandable(url)
            found = self._expand_url(url, seen)
            if found is None:
                raise _Unexpandable(url)
            imported.append(found)
        system = item.get("system")
        if system is None:
            return _intersection(imported)
        canonical = self.canonical_system(_strip_version(str(system)))
        code_system = self._code_system(canonical)
        concepts = item.get("concept")
        filters = item.get("filter", [])
        if concepts is not None:
            listed = {str(c["code"]) for c in concepts if "code" in c}
            if code_system is not None and code_system.complete:
                listed &= code_system.codes
            own = Expansion(frozenset((canonical, c) for c in listed), frozenset(), True)
        elif code_system is None or not code_system.complete:
            known = code_system.codes if code_system is not None else frozenset()
            if filters:
                try:
                    known = _filtered(code_system, known, filters) if code_system else known
                except _Unexpandable:
                    known = frozenset()
            own = Expansion(frozenset((canonical, c) for c in known), frozenset({canonical}), True)
        else:
            chosen = _filtered(code_system, code_system.codes, filters)
            own = Expansion(frozenset((canonical, c) for c in chosen), frozenset(), True)
        return _intersection([own, *imported])

    # --- lookups ------------------------------------------------------------------------

    def _value_set(self, url: str) -> Mapping[str, Any] | None:
        resource = self._source.get(url)
        if resource is not None and resource.get("resourceType") == "ValueSet":
            return resource
        return None

    def _code_system(self, canonical: str) -> _CodeSystem | None:
        if canonical not in self._systems:
            self._systems[canonical] = self._load_code_system(canonical)
        return self._systems[canonical]

    def _load_code_system(self, canonical: str) -> _CodeSystem | None:
        if canonical in EXTERNAL_SYSTEMS:
            return None
        resources = [
            r
            for url in self._urls_of(canonical)
            if (r := self._source.get(url)) is not None and r.get("resourceType") == "CodeSystem"
        ]
        resources = [r for r in resources if r.get("content") != "supplement"]
        if not resources:
            return None
        codes: set[str] = set()
        parents: dict[str, set[str]] = {}
        properties: dict[str, dict[str, set[str]]] = {}
        complete = False
        for resource in resources:
            complete = complete or resource.get("content") == _COMPLETE
            for code, parent, concept in _walk(resource.get("concept", []), None):
                codes.add(code)
                links = parents.setdefault(code, set())
                if parent is not None:
                    links.add(parent)
                for prop in concept.get("property", []):
                    name = str(prop.get("code", ""))
                    value = _property_value(prop)
                    if value is None:
                        continue
                    if name in ("parent", "subsumedBy"):
                        links.add(value)
                    properties.setdefault(code, {}).setdefault(name, set()).add(value)
        children: dict[str, set[str]] = {}
        for child, links in parents.items():
            for parent in links:
                children.setdefault(parent, set()).add(child)
        return _CodeSystem(
            canonical,
            complete,
            frozenset(codes),
            {code: frozenset(links) for code, links in parents.items()},
            {
                code: {k: frozenset(v) for k, v in props.items()}
                for code, props in properties.items()
            },
            {code: frozenset(kids) for code, kids in children.items()},
        )

    def _urls_of(self, canonical: str) -> list[str]:
        """Every URI that aliases `canonical` (the canonical one first)."""
        others = (
            a for a, target in self._aliases.items() if target == canonical and a != canonical
        )
        return [canonical, *sorted(others)]


# --- pure helpers ---------------------------------------------------------------------


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def _flatten(contains: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for item in contains:
        yield item
        yield from _flatten(item.get("contains", []))


def _walk(
    concepts: Iterable[Mapping[str, Any]], parent: str | None
) -> Iterator[tuple[str, str | None, Mapping[str, Any]]]:
    for concept in concepts:
        code = concept.get("code")
        if not isinstance(code, str):
            continue
        yield code, parent, concept
        yield from _walk(concept.get("concept", []), code)


def _property_value(prop: Mapping[str, Any]) -> str | None:
    for key, value in prop.items():
        if key.startswith("value"):
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, Mapping):
                return str(value.get("code")) if "code" in value else None
            return str(value)
    return None


def _intersection(parts: list[Expansion]) -> Expansion:
    """Codes in every part (each include's system and value sets must all hold)."""
    if not parts:
        return Expansion(frozenset(), frozenset(), True)
    first, *rest = parts
    codes = set(first.codes)
    open_systems = set(first.open_systems)
    complete = first.complete
    for part in rest:
        # A code of an open system might be in the other part: keep it unknown, not invalid.
        kept = {pair for pair in codes if pair in part.codes or pair[0] in part.open_systems}
        kept |= {pair for pair in part.codes if pair[0] in open_systems}
        codes = kept
        open_systems &= part.open_systems
        complete = complete and part.complete
    return Expansion(frozenset(codes), frozenset(open_systems), complete)


def _filtered(
    system: _CodeSystem, codes: frozenset[str], filters: Iterable[Mapping[str, Any]]
) -> frozenset[str]:
    """The codes of `system` that pass every filter (they are ANDed)."""
    chosen = codes
    for item in filters:
        chosen &= _apply_filter(system, item)
    return chosen


def _apply_filter(system: _CodeSystem, item: Mapping[str, Any]) -> frozenset[str]:
    prop = str(item.get("property", ""))
    op = str(item.get("op", ""))
    value = str(item.get("value", ""))
    if prop in ("concept", "code") and op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
        below = system.descendants(value)
        if op == "is-a":
            return below | ({value} & system.codes)
        if op == "descendent-of":
            return below
        if op == "is-not-a":
            return system.codes - below - {value}
        return system.ancestors(value) | ({value} & system.codes)
    if prop in ("concept", "code") and op == "regex":
        pattern = re.compile(value)
        return frozenset(c for c in system.codes if pattern.fullmatch(c))
    if prop in ("concept", "code") and op in ("=", "in"):
        wanted = {value} if op == "=" else {v.strip() for v in value.split(",")}
        return frozenset(wanted) & system.codes
    if op in ("=", "in", "not-in", "exists", "regex"):
        if not any(prop in props for props in system.properties.values()) and op != "exists":
            raise _Unexpandable(prop)
        wanted = {value} if op == "=" else {v.strip() for v in value.split(",")}
        result: set[str] = set()
        for code in system.codes:
            values = system.properties.get(code, {}).get(prop, frozenset())
            if op == "=" or op == "in":
                hit = bool(values & wanted)
            elif op == "not-in":
                hit = not values & wanted
            elif op == "exists":
                hit = bool(values) == (value.lower() == "true")
            else:
                hit = any(re.fullmatch(value, v) for v in values)
            if hit:
                result.add(code)
        return frozenset(result)
    raise _Unexpandable(f"{prop} {op}")


def _alias_map(source: ConformanceSource) -> dict[str, str]:
    """URI -> canonical URI, from NamingSystem uniqueIds, CodeSystem identifiers and
    `EXTRA_ALIASES`. Groups sharing a member are merged; the canonical URI of a group is
    its first `http(s)` URI in sorted order (else its first member)."""
    groups: list[set[str]] = []
    for naming in source.by_type("NamingSystem"):
        members = set()
        for unique in naming.get("uniqueId", []):
            value = unique.get("value")
            if not isinstance(value, str):
                continue
            kind = unique.get("type")
            if kind == "oid":
                members.add(value if value.startswith("urn:oid:") else f"urn:oid:{value}")
            elif kind == "uri":
                members.add(value)
        if len(members) > 1:
            groups.append(members)
    for code_system in source.by_type("CodeSystem"):
        url = code_system.get("url")
        identifiers = code_system.get("identifier", [])
        if isinstance(identifiers, Mapping):
            identifiers = [identifiers]
        oids = {
            str(i["value"])
            for i in identifiers
            if isinstance(i, Mapping) and str(i.get("value", "")).startswith("urn:oid:")
        }
        if isinstance(url, str) and oids:
            groups.append({url, *oids})
    groups.extend(set(extra) for extra in EXTRA_ALIASES)
    merged = _merge(groups)
    aliases: dict[str, str] = {}
    for group in merged:
        ordered = sorted(group)
        web = [uri for uri in ordered if uri.startswith(("http://", "https://"))]
        canonical = (web or ordered)[0]
        for uri in group:
            aliases[uri] = canonical
    return aliases


def _merge(groups: list[set[str]]) -> list[set[str]]:
    """Union of overlapping sets (a small union-find)."""
    parent: dict[str, str] = {}

    def find(item: str) -> str:
        while parent.setdefault(item, item) != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for group in groups:
        first, *rest = sorted(group)
        for other in rest:
            parent[find(other)] = find(first)
    result: dict[str, set[str]] = {}
    for item in list(parent):
        result.setdefault(find(item), set()).add(item)
    return list(result.values())
