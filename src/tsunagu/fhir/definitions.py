"""FHIR R4 core definitions: types, elements, summaries, search parameters, compartments.

The data is a digest of the official R4 4.0.1 package vendored as `data/r4-core.json.gz`
(see `data/README.md` and `scripts/vendor_definitions.py`). Nothing is read at import time;
`load_definitions()` parses the file once on first use.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, cast, get_args

import orjson

DATA_FILE = "r4-core.json.gz"

SearchParamType = Literal[
    "number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"
]
_SEARCH_PARAM_TYPES: frozenset[str] = frozenset(get_args(SearchParamType))

# Summary elements of one level: JSON property name -> nested tree for a BackboneElement
# (keep only its summary children) or None (keep the value whole). Recursive structures
# such as Parameters.parameter.part make the tree cyclic.
SummaryTree: TypeAlias = Mapping[str, "SummaryTree | None"]

# Parameters of these abstract bases apply to every resource (DomainResource: all but
# Binary, Bundle and Parameters).
RESOURCE = "Resource"
DOMAIN_RESOURCE = "DomainResource"

# Markers of the vendored element spec strings (see scripts/vendor_definitions.py).
_REPEATS = "*"
_BACKBONE = "@"
_CONTENT_REFERENCE = ">"
_CHOICE_SUFFIX = "[x]"


@dataclass(frozen=True)
class ElementInfo:
    """One JSON property of a resource, data type or backbone element, with its FHIR type."""

    name: str  # JSON property name; choices are expanded (`valueQuantity`)
    types: tuple[str, ...]  # FHIR type codes (one for a concrete choice name)
    is_array: bool
    choice_of: str | None = None  # base name of a choice element (`value`)
    owner: str | None = None  # owner key of a backbone element's children (`Patient.contact`)


@dataclass(frozen=True)
class SearchParameterComponent:
    """One component of a composite search parameter."""

    definition: str
    expression: str


@dataclass(frozen=True)
class SearchParameterDef:
    """The computable part of a SearchParameter resource."""

    url: str
    code: str
    base: tuple[str, ...]
    type: SearchParamType
    expression: str | None = None
    target: tuple[str, ...] = ()
    multiple_or: bool | None = None
    multiple_and: bool | None = None
    modifier: tuple[str, ...] = ()
    comparator: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()
    component: tuple[SearchParameterComponent, ...] = ()
    xpath_usage: str | None = None
    experimental: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Definitions:
    """Read-only FHIR R4 core definitions (compare and hash by identity)."""

    fhir_version: str
    resource_types: frozenset[str]
    resource_bases: Mapping[str, str]
    summary: Mapping[str, SummaryTree]
    mandatory: Mapping[str, tuple[str, ...]]
    choices: Mapping[str, Mapping[str, tuple[str, ...]]]
    search_parameters: tuple[SearchParameterDef, ...]
    compartments: Mapping[str, Mapping[str, tuple[str, ...]]]
    type_parents: Mapping[str, str]
    primitive_types: frozenset[str]
    # Owner key (type name or backbone path) -> element name as defined -> spec string.
    element_specs: Mapping[str, Mapping[str, str]]

    def __repr__(self) -> str:
        return (
            f"Definitions(fhir_version={self.fhir_version!r}, "
            f"resource_types={len(self.resource_types)}, "
            f"search_parameters={len(self.search_parameters)})"
        )

    def is_resource_type(self, name: str) -> bool:
        """True if `name` is a concrete R4 resource type (not Resource/DomainResource)."""
        return name in self.resource_types

    def is_domain_resource(self, resource_type: str) -> bool:
        """True if the resource type specializes DomainResource (has text, contained, ...)."""
        return self.resource_bases.get(resource_type) == DOMAIN_RESOURCE

    def json_names(self, resource_type: str, element: str) -> tuple[str, ...]:
        """JSON property names of a top-level element: `value`/`value[x]` expand by type."""
        stem = element.removesuffix("[x]")
        expanded = self.choices.get(resource_type, {}).get(stem)
        if expanded is not None:
            return expanded
        return () if stem != element else (element,)

    def search_parameters_for(self, resource_type: str) -> dict[str, SearchParameterDef]:
        """Core search parameters by code for a type, including Resource/DomainResource ones.

        Example and extension parameters flagged experimental in the package are left out.
        `Resource` gives the parameters valid across all types; unknown types give {}.
        """
        if resource_type == RESOURCE:
            bases: tuple[str, ...] = (RESOURCE,)
        elif resource_type == DOMAIN_RESOURCE:
            bases = (RESOURCE, DOMAIN_RESOURCE)
        elif resource_type in self.resource_types:
            bases = (RESOURCE, self.resource_bases[resource_type], resource_type)
        else:
            return {}
        found: dict[str, SearchParameterDef] = {}
        for base in dict.fromkeys(bases):
            found.update(self._by_base.get(base, {}))
        return found

    def search_parameter(self, url: str) -> SearchParameterDef | None:
        """The search parameter with this canonical URL (e.g. a composite component)."""
        return self._by_url.get(url)

    def compartment_params(self, compartment: str, resource_type: str) -> tuple[str, ...]:
        """Parameter codes linking `resource_type` to a compartment; () if not a member."""
        return self.compartments.get(compartment, {}).get(resource_type, ())

    def is_type(self, name: str) -> bool:
        """True for any R4 type name: resources, data types, primitives and abstract bases."""
        return name in self.type_parents or name in (RESOURCE, "Element")

    def is_primitive(self, type_code: str) -> bool:
        """True for a primitive type code (`string`, `dateTime`, `code`, ...)."""
        return type_code in self.primitive_types

    def type_parent(self, name: str) -> str | None:
        """The type `name` specializes (`Age` -> `Quantity`); None at the root or if unknown."""
        return self.type_parents.get(name)

    def is_subtype(self, name: str, ancestor: str) -> bool:
        """True if type `name` is `ancestor` or specializes it (`code` is a `string`)."""
        current: str | None = name
        while current is not None:
            if current == ancestor:
                return True
            current = self.type_parents.get(current)
        return False

    def element_types(self, owner: str) -> Mapping[str, ElementInfo]:
        """Elements by JSON name of a type or backbone key (`Patient.contact`), inherited too.

        Unknown owners (and primitive types) give an empty mapping.
        """
        cache = self._element_cache
        found = cache.get(owner)
        if found is None:
            found = MappingProxyType(self._build_elements(owner))
            cache[owner] = found
        return found

    def _build_elements(self, owner: str) -> dict[str, ElementInfo]:
        specs = self.element_specs.get(owner)
        if specs is None:
            return {}
        if "." in owner:
            parent, name = owner.rsplit(".", 1)
            base: str | None = self._element_type_codes(parent, name)[0]
        else:
            base = self.type_parents.get(owner)
        merged = dict(self.element_types(base)) if base is not None else {}
        for name, spec in specs.items():
            is_array = spec.startswith(_REPEATS)
            body = spec.removeprefix(_REPEATS)
            if body.startswith(_CONTENT_REFERENCE):
                target = body[1:]
                parent, _, target_name = target.rpartition(".")
                types = self._element_type_codes(parent, target_name)
                merged[name] = ElementInfo(name, types, is_array, owner=target)
            elif body.startswith(_BACKBONE):
                merged[name] = ElementInfo(name, (body[1:],), is_array, owner=f"{owner}.{name}")
            elif name.endswith(_CHOICE_SUFFIX):
                stem = name.removesuffix(_CHOICE_SUFFIX)
                for code in body.split("|"):
                    json_name = stem + code[0].upper() + code[1:]
                    merged[json_name] = ElementInfo(json_name, (code,), is_array, choice_of=stem)
            else:
                merged[name] = ElementInfo(name, tuple(body.split("|")), is_array)
        return merged

    def _element_type_codes(self, owner: str, name: str) -> tuple[str, ...]:
        spec = self.element_specs[owner][name].removeprefix(_REPEATS)
        if spec.startswith(_CONTENT_REFERENCE):
            parent, _, target_name = spec[1:].rpartition(".")
            return self._element_type_codes(parent, target_name)
        return tuple(spec.removeprefix(_BACKBONE).split("|"))

    @cached_property
    def _element_cache(self) -> dict[str, Mapping[str, ElementInfo]]:
        return {}

    @cached_property
    def _by_base(self) -> Mapping[str, Mapping[str, SearchParameterDef]]:
        index: dict[str, dict[str, SearchParameterDef]] = {}
        for param in self.search_parameters:
            if param.experimental:
                continue
            for base in param.base:
                index.setdefault(base, {}).setdefault(param.code, param)
        return index

    @cached_property
    def _by_url(self) -> Mapping[str, SearchParameterDef]:
        return {param.url: param for param in self.search_parameters}


@cache
def load_definitions() -> Definitions:
    """Load the vendored R4 core definitions (parsed once, then cached)."""
    raw = resources.files("tsunagu.fhir").joinpath("data", DATA_FILE).read_bytes()
    return parse_definitions(orjson.loads(gzip.decompress(raw)))


def parse_definitions(document: Mapping[str, Any]) -> Definitions:
    """Build `Definitions` from the decoded vendored JSON document."""
    return Definitions(
        fhir_version=str(document["fhirVersion"]),
        resource_types=frozenset(document["resourceTypes"]),
        resource_bases=MappingProxyType(dict(document["resourceBases"])),
        summary=MappingProxyType(
            {name: _summary_tree(name, tree) for name, tree in document["summary"].items()}
        ),
        mandatory=MappingProxyType(
            {name: tuple(names) for name, names in document["mandatory"].items()}
        ),
        choices=MappingProxyType(
            {
                name: MappingProxyType({stem: tuple(json) for stem, json in stems.items()})
                for name, stems in document["choices"].items()
            }
        ),
        search_parameters=tuple(_search_parameter(entry) for entry in document["searchParameters"]),
        compartments=MappingProxyType(
            {
                code: MappingProxyType({name: tuple(params) for name, params in members.items()})
                for code, members in document["compartments"].items()
            }
        ),
        type_parents=MappingProxyType(dict(document.get("typeParents", {}))),
        primitive_types=frozenset(document.get("primitiveTypes", ())),
        element_specs=MappingProxyType(
            {
                owner: MappingProxyType(dict(elements))
                for owner, elements in document.get("elementTypes", {}).items()
            }
        ),
    )


def _search_parameter(entry: Mapping[str, Any]) -> SearchParameterDef:
    kind = entry["type"]
    if kind not in _SEARCH_PARAM_TYPES:
        raise ValueError(f"unknown search parameter type {kind!r} in {entry['url']}")
    return SearchParameterDef(
        url=entry["url"],
        code=entry["code"],
        base=tuple(entry["base"]),
        type=cast(SearchParamType, kind),
        expression=entry.get("expression"),
        target=tuple(entry.get("target", ())),
        multiple_or=entry.get("multipleOr"),
        multiple_and=entry.get("multipleAnd"),
        modifier=tuple(entry.get("modifier", ())),
        comparator=tuple(entry.get("comparator", ())),
        chain=tuple(entry.get("chain", ())),
        component=tuple(
            SearchParameterComponent(definition=c["definition"], expression=c["expression"])
            for c in entry.get("component", ())
        ),
        xpath_usage=entry.get("xpathUsage"),
        experimental=bool(entry.get("experimental", False)),
    )


def _summary_tree(resource_type: str, raw: Mapping[str, Any]) -> SummaryTree:
    """Turn the JSON tree (true / nested / back-reference path) into a SummaryTree."""
    pending: list[tuple[dict[str, SummaryTree | None], str, str]] = []

    def convert(node: Mapping[str, Any]) -> dict[str, SummaryTree | None]:
        out: dict[str, SummaryTree | None] = {}
        for key, value in node.items():
            if value is True:
                out[key] = None
            elif isinstance(value, Mapping):
                out[key] = convert(value)
            elif isinstance(value, str):
                out[key] = None
                pending.append((out, key, value))
            else:
                raise ValueError(f"bad summary entry {resource_type}.{key}: {value!r}")
        return out

    root = convert(raw)
    for holder, key, path in pending:
        target: SummaryTree | None = root
        for step in path.split("."):
            target = target.get(step) if target is not None else None
        if target is None:
            raise ValueError(f"unresolvable summary reference {resource_type}.{key} -> {path}")
        holder[key] = target
    return root
