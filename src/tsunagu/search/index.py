"""Index rows of a resource: what each of its search parameters extracts, per index table.

The parameters to run depend on which elements a resource has (see `roots`). Resources of a
type mostly come in a few shapes (the same keys), so the parameters chosen for a shape are
kept, already bound to the resource type (`Entry`), in the type's `IndexingPlan.derived`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tsunagu.search.fhirpath import Extractor, TypedValue
from tsunagu.search.fhirpath.compiler import FastExtractor
from tsunagu.search.parameters import MODULES, IndexedParam, IndexingPlan, SearchRegistry
from tsunagu.search.params import string, token
from tsunagu.search.roots import element_names

TABLES = tuple(sorted({module.TABLE for module in MODULES.values()}))
IndexRows = dict[str, list[tuple[Any, ...]]]

Values = list[TypedValue]
RowsOf = Callable[[Values], list[Any]]
# A composite's component: (row code, expression, rows of its values, table, evaluator).
Part = tuple[str, str, RowsOf, str, Callable[[Values, Mapping[str, Any]], Values]]
# A parameter ready to run: (code, expression, extract, rows, table, of-type code, parts).
# `rows` and `table` are None for a composite, whose `parts` are then its components.
Entry = tuple[
    str,
    str,
    Callable[[Mapping[str, Any]], Values],
    RowsOf | None,
    str | None,
    str | None,
    tuple[Part, ...],
]
# Alternatives, each the sets of top-level keys of which a resource must have one key each.
Trigger = tuple[tuple[frozenset[str], ...], ...]
_SHAPES_KEPT = 512  # resource shapes remembered per type (cleared past that)
_TRIGGERS = "triggers"  # where a plan's `derived` keeps the triggers (shapes are tuples)


def index_resource(
    resource: dict[str, Any],
    registry: SearchRegistry,
    *,
    skip_absent: bool = True,
    only: frozenset[str] | None = None,
) -> IndexRows:
    """Rows (param, grp, *columns) for every index table, for one resource.

    `skip_absent` skips parameters whose elements the resource lacks (see `roots`); turning
    it off evaluates every expression, which tests use to show the results are the same.
    `only`: the rows of these parameters alone (reindexing one parameter, see `row_codes`).
    """
    resource_type = resource["resourceType"]
    plan = registry.indexing(resource_type)
    if skip_absent:
        entries = _entries_for(plan, resource, resource_type)
    else:
        entries = _prepare(
            resource_type,
            [(c, p) for c, p in registry.for_type(resource_type).items() if p.writes_rows],
        )
    if only is not None:
        entries = tuple(entry for entry in entries if entry[0] in only)
    out: IndexRows = {table: [] for table in TABLES}
    # Parameters often share an expression, or select the same values with different ones
    # (`name` and `phonetic`): values per expression and rows per values are kept. Values
    # are told apart by identity, which is sound while `evaluated` keeps them all alive.
    evaluated: dict[str, Values] = {}
    same_values: dict[tuple[Any, ...], list[Any]] = {}  # also composites' component rows
    components: dict[tuple[str, int], Values] = {}  # component values, per element
    for code, expression, extract, rows_of, table, of_type, parts in entries:
        values = evaluated.get(expression)
        if values is None:
            values = evaluated[expression] = extract(resource)
        if not values:
            continue
        if rows_of is None:
            _composite_rows(out, parts, values, resource, (same_values, components))
            continue
        assert table is not None
        key = (table, *[(id(typed.value), typed.fhir_type) for typed in values])
        rows = same_values.get(key)
        if rows is None:
            rows = same_values[key] = rows_of(values)
        head = (code, None)
        out[table].extend([head + row for row in rows])
        if of_type is not None:
            head = (of_type, None)
            out[table].extend([head + row for row in token.of_type_rows(values)])
    if plan.parts:
        _leave_out_parts(out[string.TABLE], plan.parts)
    return out


def _leave_out_parts(
    rows: list[tuple[Any, ...]], parts: tuple[tuple[str, frozenset[str]], ...]
) -> None:
    """Drop, from the rows of a parameter with parts (`name`), the strings that its parts'
    rows (`family`, `given`) hold: its searches read those too (`search.aliases`)."""
    for code, codes in parts:
        held = {row[2:] for row in rows if row[0] in codes}
        if held:
            rows[:] = [row for row in rows if row[0] != code or row[2:] not in held]


def row_codes(registry: SearchRegistry, resource_type: str, codes: Iterable[str]) -> set[str]:
    """The `param` column values of these parameters' rows: their codes (an alias's
    sources'), `:of-type` rows of tokens, and the components of composites (`code#0`, ...,
    or the plain parameters' whose rows they read)."""
    out: set[str] = set()
    for code in codes:
        param = registry.get(resource_type, code)
        if param is None:
            continue
        if param.sources:
            out |= row_codes(registry, resource_type, [s.code for s in param.sources])
            continue
        if param.component_sources:
            out |= row_codes(registry, resource_type, param.component_sources)
            continue
        if param.part_sources:
            out |= row_codes(registry, resource_type, param.part_sources)
        out.add(code)
        if param.type == "token":
            out.add(code + token.OF_TYPE)
        out.update(component.spec.code for component in param.components)
    return out


def codes_of_type(registry: SearchRegistry, resource_type: str, param_type: str) -> list[str]:
    """The parameters of a type whose rows hold values of `param_type`: those of that type and
    the composites with a component of it (`date` after dates changed how they are read)."""
    return sorted(
        code
        for code, param in registry.for_type(resource_type).items()
        if param.type == param_type or any(c.type == param_type for c in param.components)
    )


def rebuilt_together(
    registry: SearchRegistry, resource_type: str, codes: Iterable[str]
) -> frozenset[str]:
    """The parameters that a reindex of these must rebuild: themselves, the sources of an
    alias or of a paired composite (their rows are its rows), and a parameter with parts with
    all of its parts, whichever was asked for: `name` leaves out the strings that `family`
    and `given` hold (`_leave_out_parts`), so none of them can be rebuilt alone."""
    params = registry.for_type(resource_type)
    todo = list(codes)
    found: set[str] = set()
    while todo:
        code = todo.pop()
        param = params.get(code)
        if param is None or code in found:
            continue
        found.add(code)
        todo += [source.code for source in param.sources]
        todo += [*param.component_sources, *param.part_sources]
        todo += [whole for whole, other in params.items() if code in other.part_sources]
    return frozenset(found)


def stale_row_codes(
    registry: SearchRegistry, found: Iterable[tuple[str, str]]
) -> dict[str, tuple[str, ...]]:
    """Of the (resource type, `param` column) pairs found in an index table, the codes that
    no parameter of the type writes any more, by type: rows left by an earlier version
    (before a parameter became an alias of another, `search.aliases`) or by a custom
    parameter that was retired. Searches never read them."""
    written: dict[str, set[str]] = {}
    stale: dict[str, list[str]] = {}
    for resource_type, code in found:
        codes = written.get(resource_type)
        if codes is None:
            codes = written[resource_type] = row_codes(
                registry, resource_type, registry.for_type(resource_type)
            )
        if code not in codes:
            stale.setdefault(resource_type, []).append(code)
    return {rtype: tuple(sorted(codes)) for rtype, codes in sorted(stale.items())}


def _entries_for(
    plan: IndexingPlan, resource: Mapping[str, Any], resource_type: str
) -> tuple[Entry, ...]:
    """The entries to run on a resource of this shape (its keys and its meta's keys)."""
    meta = resource.get("meta")
    shape = (tuple(resource), tuple(meta) if isinstance(meta, dict) else None)
    derived = plan.derived
    entries: tuple[Entry, ...] | None = derived.get(shape)
    if entries is None:
        chosen = dict(plan.always)
        for name in element_names(resource):
            chosen.update(plan.by_root.get(name, ()))
        keys = frozenset(resource)
        triggers = derived.setdefault(_TRIGGERS, {})
        params = []
        for code, param in sorted(chosen.items()):
            trigger = triggers.get(code, False)
            if trigger is False:
                trigger = triggers[code] = _trigger(param, resource_type)
            if trigger is None or any(
                all(not need.isdisjoint(keys) for need in alternative) for alternative in trigger
            ):
                params.append((code, param))
        entries = _prepare(resource_type, params)
        if len(derived) >= _SHAPES_KEPT:
            derived.clear()
        derived[shape] = entries
    return entries


def _trigger(param: IndexedParam, resource_type: str) -> Trigger | None:
    """When a parameter can select anything: if, for one of the alternatives, the resource has
    one key of each set (None: always). See `fhirpath.keys`."""
    extractor = param.extractor
    if not isinstance(extractor, FastExtractor):
        return None
    if not param.components:
        keys = extractor.start_keys(resource_type)
        return None if keys is None else ((keys,),)
    branches = extractor.branch_keys(resource_type)
    if branches is None:
        return None
    alternatives: list[tuple[frozenset[str], ...]] = []
    for branch in branches:
        if isinstance(branch, frozenset):
            alternatives.append((branch,))
            continue
        # The resource itself: it needs every component (relative to it).
        needs = []
        for component in param.components:
            if not isinstance(component.extractor, FastExtractor):
                return None
            keys = component.extractor.start_keys(resource_type)
            if keys is None:
                return None
            needs.append(keys)
        alternatives.append(tuple(needs))
    return tuple(alternatives)


def _prepare(resource_type: str, params: Iterable[tuple[str, IndexedParam]]) -> tuple[Entry, ...]:
    """Entries of the parameters that extract rows, in the order given."""
    entries: list[Entry] = []
    for code, param in params:
        extractor = param.extractor
        if extractor is None:
            continue
        extract = _bound(extractor, resource_type)
        if param.components:
            parts = tuple(
                (
                    component.spec.code,
                    component.extractor.expression,
                    MODULES[component.type].rows,
                    MODULES[component.type].TABLE,
                    component.extractor.evaluate,
                )
                for component in param.components
            )
            entries.append((code, extractor.expression, extract, None, None, None, parts))
            continue
        module = MODULES.get(param.type)
        if module is None:
            continue
        of_type = code + token.OF_TYPE if module is token else None
        entries.append(
            (code, extractor.expression, extract, module.rows, module.TABLE, of_type, ())
        )
    return tuple(entries)


def _bound(extractor: Extractor, resource_type: str) -> Callable[[Mapping[str, Any]], Values]:
    """The extractor specialised to the type when it can be (the compiled ones)."""
    bind = getattr(extractor, "bind", None)
    if bind is None:
        return extractor
    bound: Callable[[Mapping[str, Any]], Values] = bind(resource_type)
    return bound


def _rows_of_values(
    same_values: dict[tuple[Any, ...], list[Any]], table: str, rows_of: RowsOf, values: Values
) -> list[Any]:
    """The rows of these values in `table`, computed once per resource for the same values
    (told apart by identity: the caller keeps them alive). `index_resource` does the same,
    inline."""
    key = (table, *[(id(typed.value), typed.fhir_type) for typed in values])
    rows = same_values.get(key)
    if rows is None:
        rows = same_values[key] = rows_of(values)
    return rows


def _composite_rows(
    out: IndexRows,
    parts: tuple[Part, ...],
    elements: Values,
    resource: Mapping[str, Any],
    memos: tuple[dict[tuple[Any, ...], list[Any]], dict[tuple[str, int], Values]],
) -> None:
    """Component rows of each element that has every component, tied by `grp` = its number.

    Composites of one resource often share components (`code` in all `code-value-*`): their
    values are evaluated once per element (and kept alive, as `same_values` needs). They are
    often a plain parameter's values too (a root composite's `code` is the `code`
    parameter's): rows of the same values are computed once (`same_values`).
    """
    same_values, components = memos
    for group, element in enumerate(elements, start=1):
        found = []
        for row_code, expression, rows_of, table, evaluate in parts:
            key = (expression, id(element.value))
            values = components.get(key)
            if values is None:
                values = components[key] = evaluate([element], resource)
            rows = _rows_of_values(same_values, table, rows_of, values) if values else []
            if not rows:
                break  # a composite value needs every component
            found.append((row_code, table, rows))
        else:
            for row_code, table, rows in found:
                head = (row_code, group)
                out[table].extend([head + row for row in rows])
