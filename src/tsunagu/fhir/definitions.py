"""FHIR R4 core definitions: resource types, summary elements, search parameters, compartments.

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
