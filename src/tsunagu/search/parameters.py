"""The search parameter registry: which parameters each resource type has, compiled once.

Built from the vendored R4 SearchParameters, the custom SearchParameter resources the
server has been given, and the computed parameters the platform adds (`ComputedParam`). Each
parameter's FHIRPath expression is compiled once into an extractor (`fhirpath.compile_path`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from tsunagu.fhir.definitions import Definitions, SearchParameterDef
from tsunagu.search.aliases import (
    Candidate,
    Source,
    component_sources,
    find_sources,
    part_sources,
)
from tsunagu.search.fhirpath import Extractor, ExtractorCache, TypedValue
from tsunagu.search.params import (
    date,
    number,
    position,
    quantity,
    reference,
    string,
    token,
    uri,
)
from tsunagu.search.params.common import ParamSpec
from tsunagu.search.roots import expression_roots
from tsunagu.search.terminology import Terminology

MODULES: Mapping[str, ModuleType] = {
    "token": token,
    "string": string,
    "date": date,
    "number": number,
    "quantity": quantity,
    "reference": reference,
    "uri": uri,
    # The one special parameter of R4 with an expression: `Location.near`.
    "special": position,
}

# Parameters answered from columns of the resource tables, not from index rows.
COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
# Parameters the server does not implement (reported as ignored, or 400 when strict).
UNSUPPORTED = frozenset({"_text", "_content", "_query", "_filter", "_list"})


@dataclass(frozen=True)
class Component:
    """One component of a composite parameter: its type and its relative expression."""

    type: str
    extractor: Extractor
    spec: ParamSpec


@dataclass(frozen=True)
class CompositeRows:
    """Where a composite's values are found: the `param` codes of each component's rows, and
    whether one value's rows share `grp` (rows of its own, one group per element) or are the
    plain parameters' rows of the resource (a composite on the resource itself, whose
    components are plain parameters: `search.aliases.component_sources`)."""

    codes: tuple[str, ...]
    grouped: bool


# By parameter type, the types whose values give no rows in its table.
_ROWLESS = {"quantity": quantity.SKIPPED_TYPES}


@dataclass(frozen=True)
class ComputedParam:
    """A token parameter whose codes a function computes from the resource: for keys that
    FHIRPath cannot express, such as a Japanese name folded for matching. It is indexed in the
    same transaction as the resource and searched like any token parameter; `roots` are the
    top-level elements the codes depend on (a resource without any of them is not run)."""

    definition: SearchParameterDef
    compute: Callable[[Mapping[str, Any]], list[str]]
    roots: frozenset[str]
    documentation: str = ""


@dataclass
class _ComputedExtractor:
    """A `ComputedParam`'s function as an extractor of `code` values."""

    expression: str  # the parameter's url: unique, so values are never shared by mistake
    compute: Callable[[Mapping[str, Any]], list[str]]
    fast: bool = True

    def __call__(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        return [TypedValue(code, "code") for code in self.compute(resource)]

    def evaluate(
        self, focus: Sequence[TypedValue], resource: Mapping[str, Any]
    ) -> list[TypedValue]:
        return self(resource)


@dataclass(frozen=True)
class IndexedParam:
    """A search parameter of one resource type, ready to index and to query."""

    definition: SearchParameterDef
    extractor: Extractor | None
    components: tuple[Component, ...] = ()
    # Top-level elements the expression starts from (None: evaluate it on every resource).
    roots: frozenset[str] | None = None
    documentation: str = ""  # for the CapabilityStatement (computed parameters)
    # An alias (`search.aliases`): its values are these parameters' rows, and it writes none.
    sources: tuple[Source, ...] = ()
    # A composite whose components are these plain parameters (one each): it writes no rows.
    component_sources: tuple[str, ...] = ()
    # String parameters that index parts of its values (`family` of `name`): its searches
    # read their rows too, and its own rows leave out the strings theirs hold.
    part_sources: tuple[str, ...] = ()
    # A composite's values: its own rows, its components' plain parameters' or its sources'.
    composite_rows: tuple[CompositeRows, ...] = ()

    @property
    def writes_rows(self) -> bool:
        """Whether indexing writes rows of this parameter (not an alias of any kind)."""
        return self.extractor is not None and not self.sources and not self.component_sources

    @property
    def code(self) -> str:
        return self.definition.code

    @property
    def type(self) -> str:
        return self.definition.type

    @property
    def spec(self) -> ParamSpec:
        return ParamSpec(self.definition.code, self.definition.type, self.definition.target)


@dataclass(frozen=True)
class IndexingPlan:
    """Which parameters to evaluate for a resource: `always`, and those keyed by the
    top-level element (see `roots`) they start from."""

    always: tuple[tuple[str, IndexedParam], ...]
    by_root: Mapping[str, tuple[tuple[str, IndexedParam], ...]]
    # (code, its parts' codes) of the parameters with `part_sources`, whose own rows leave out
    # the strings their parts' rows hold.
    parts: tuple[tuple[str, frozenset[str]], ...] = ()
    # What `index.index_resource` derives from the plan and keeps: the parameters to run
    # for each shape (set of keys) of resource seen, ready to evaluate.
    derived: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


_MAX_KEPT_ROW_CODES = 10_000


class SearchRegistry:
    """Search parameters by resource type; compiled lazily, once per type."""

    def __init__(
        self,
        definitions: Definitions,
        custom: Sequence[SearchParameterDef] = (),
        computed: Sequence[ComputedParam] = (),
        terminology: Terminology | None = None,
    ) -> None:
        self.definitions = definitions
        # What `:in`, `:not-in`, and a token's `:above`/`:below` expand (None: refused).
        self.terminology = terminology
        self._custom = tuple(custom)
        self._computed = tuple(computed)
        self._by_type: dict[str, dict[str, IndexedParam]] = {}
        self._plans: dict[str, IndexingPlan] = {}
        self._rows: dict[tuple[str, tuple[str, ...], str], tuple[str, ...]] = {}
        self._compartments: dict[
            tuple[str, tuple[str, ...]], tuple[tuple[str, tuple[str, ...]], ...]
        ] = {}
        self._extractors = ExtractorCache(definitions)

    def for_type(self, resource_type: str) -> dict[str, IndexedParam]:
        """Every parameter of the type, by code (custom ones override core ones)."""
        cached = self._by_type.get(resource_type)
        if cached is not None:
            return cached
        params: dict[str, IndexedParam] = {}
        merged = dict(self.definitions.search_parameters_for(resource_type))
        for custom in self._custom:
            if resource_type in custom.base or "Resource" in custom.base:
                merged[custom.code] = custom
        for code, definition in sorted(merged.items()):
            if code in UNSUPPORTED or (definition.type == "special" and not definition.expression):
                continue
            extractor = None
            if code not in COLUMN_PARAMS and definition.expression:
                extractor = self._extractors.get(definition.expression)
            components = self._components(definition)
            if definition.type == "composite" and components is None:
                continue  # a component the server cannot index: leave the parameter out
            roots = (
                expression_roots(
                    definition.expression,
                    resource_type,
                    [c.expression for c in definition.component],
                )
                if definition.expression
                else None
            )
            params[code] = IndexedParam(definition, extractor, components or (), roots)
        for computed in self._computed:
            if resource_type in computed.definition.base:
                params[computed.definition.code] = IndexedParam(
                    computed.definition,
                    _ComputedExtractor(computed.definition.url, computed.compute),
                    (),
                    computed.roots,
                    computed.documentation,
                )
        posted = {id(c) for c in self._custom}
        custom_codes = {code for code, p in params.items() if id(p.definition) in posted}
        self._by_type[resource_type] = _with_sources(
            resource_type, params, custom_codes, self._parts_of
        )
        return self._by_type[resource_type]

    def _parts_of(self, branch: str) -> frozenset[str]:
        """The parts whose strings a string parameter's rows include, for a branch that
        selects an element of a type with parts (`Patient.name`: a HumanName's)."""
        owner, _, name = branch.partition(".")
        info = self.definitions.element_types(owner).get(name) if name else None
        if info is None or len(info.types) != 1:
            return frozenset()
        return frozenset(string.PARTS.get(info.types[0], ()))

    def _components(self, definition: SearchParameterDef) -> tuple[Component, ...] | None:
        """Compiled components of a composite parameter (None if one is unusable)."""
        result = []
        for index, component in enumerate(definition.component):
            target = self.definitions.search_parameter(component.definition)
            if target is None or target.type not in MODULES or not component.expression:
                return None
            spec = ParamSpec(f"{definition.code}#{index}", target.type, target.target)
            result.append(Component(target.type, self._extractors.get(component.expression), spec))
        return tuple(result)

    def indexing(self, resource_type: str) -> IndexingPlan:
        """The type's indexed parameters, arranged for `index.index_resource`."""
        plan = self._plans.get(resource_type)
        if plan is None:
            always: list[tuple[str, IndexedParam]] = []
            by_root: dict[str, list[tuple[str, IndexedParam]]] = {}
            parts: list[tuple[str, frozenset[str]]] = []
            for code, param in self.for_type(resource_type).items():
                if not param.writes_rows:
                    continue
                if param.part_sources:
                    parts.append((code, frozenset(param.part_sources)))
                if param.roots is None:
                    always.append((code, param))
                for root in param.roots or ():
                    by_root.setdefault(root, []).append((code, param))
            plan = self._plans[resource_type] = IndexingPlan(
                tuple(always), {root: tuple(ps) for root, ps in by_root.items()}, tuple(parts)
            )
        return plan

    def warm(self) -> None:
        """Compile every type's parameters now (a server does this before taking requests)."""
        for resource_type in sorted(self.definitions.resource_types):
            self.indexing(resource_type)

    def get(self, resource_type: str, code: str) -> IndexedParam | None:
        return self.for_type(resource_type).get(code)

    def row_codes(
        self, resource_type: str, codes: Sequence[str], target_type: str
    ) -> tuple[str, ...]:
        """The `param` values of the rows that hold these reference parameters' references
        to `target_type` (an alias's sources, unless restricted to another type). Kept: a
        compartment search asks this for every member type of the compartment."""
        key = (resource_type, tuple(codes), target_type)
        cached = self._rows.get(key)
        if cached is not None:
            return cached
        out: list[str] = []
        for code in codes:
            param = self.get(resource_type, code)
            if param is None or not param.sources:
                out.append(code)
                continue
            out += [s.code for s in param.sources if s.target_type in (None, target_type)]
        result = tuple(dict.fromkeys(out))
        if len(self._rows) < _MAX_KEPT_ROW_CODES:  # bounded, whatever the requests name
            self._rows[key] = result
        return result

    def compartment_rows(
        self, owner_type: str, types: tuple[str, ...]
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """For each of `types`, the `param` values of its rows that put a resource in the
        compartment of an `owner_type` (`row_codes` of its compartment parameters). Kept:
        every page of `$everything` asks this for some 60 types."""
        key = (owner_type, types)
        cached = self._compartments.get(key)
        if cached is not None:
            return cached
        members = self.definitions.compartments.get(owner_type, {})
        result = tuple(
            (t, self.row_codes(t, [c for c in members.get(t, ()) if c != "{def}"], owner_type))
            for t in types
        )
        if len(self._compartments) < _MAX_KEPT_ROW_CODES:  # `_type` lists are the caller's
            self._compartments[key] = result
        return result

    def set_custom(self, custom: Sequence[SearchParameterDef]) -> None:
        """Use these custom parameters from now on (after `$reindex` loads them)."""
        self._custom = tuple(custom)
        self._by_type = {}
        self._plans = {}
        self._rows = {}
        self._compartments = {}

    @property
    def custom(self) -> tuple[SearchParameterDef, ...]:
        return self._custom


def _with_sources(
    resource_type: str,
    params: dict[str, IndexedParam],
    custom: set[str],
    parts_of: Callable[[str], frozenset[str]],
) -> dict[str, IndexedParam]:
    """The parameters, the aliases among them given their sources (`search.aliases`)."""
    candidates = {
        code: Candidate(
            code,
            p.type,
            p.definition.expression,
            indexable=(
                p.extractor is not None
                and (bool(p.components) or p.type in MODULES)
                and code not in COLUMN_PARAMS
                and not isinstance(p.extractor, _ComputedExtractor)
            ),
            custom=code in custom,
            components=tuple(f"{c.type} {c.extractor.expression}" for c in p.components),
        )
        for code, p in params.items()
    }
    found = find_sources(resource_type, candidates)
    parted = {
        code: found_parts
        for code in params
        if code not in found
        and (found_parts := part_sources(resource_type, code, candidates, found, parts_of))
    }
    # An alias of a parameter with parts reads the parts' rows too (`phonetic` of `name`).
    found = {
        code: tuple(
            dict.fromkeys(
                extra
                for source in sources
                for extra in (
                    source,
                    *(Source(part, source.target_type) for part in parted.get(source.code, ())),
                )
            )
        )
        for code, sources in found.items()
    }
    paired = {
        code: component_sources(resource_type, code, candidates, found, _ROWLESS)
        for code, p in params.items()
        if p.components and code not in found
    }

    def rows_of(code: str) -> tuple[CompositeRows, ...]:
        if found.get(code):
            return tuple(r for source in found[code] for r in rows_of(source.code))
        if paired.get(code):
            return (CompositeRows(paired[code], grouped=False),)
        count = len(params[code].components)
        return (CompositeRows(tuple(f"{code}#{i}" for i in range(count)), grouped=True),)

    return {
        code: replace(
            p,
            sources=found.get(code, ()),
            component_sources=paired.get(code, ()),
            part_sources=parted.get(code, ()),
            composite_rows=rows_of(code) if p.components else (),
        )
        for code, p in params.items()
    }


class UnindexedRegistry(SearchRegistry):
    """Every parameter known, none indexed: the baseline that measures what indexing costs
    writes (`Settings.search_index`). Writes store resources, their access facts and their
    AuditEvents as usual (the Patient compartment is still evaluated, from the parameters),
    but no index rows; a search therefore finds nothing."""

    def indexing(self, resource_type: str) -> IndexingPlan:
        return self._plans.setdefault(resource_type, IndexingPlan((), {}))
