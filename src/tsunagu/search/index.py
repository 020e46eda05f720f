"""Index rows of a resource: what each of its search parameters extracts, per index table."""

from __future__ import annotations

from typing import Any

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.parameters import MODULES, IndexedParam, SearchRegistry
from tsunagu.search.params import token
from tsunagu.search.roots import element_names

TABLES = tuple(sorted({module.TABLE for module in MODULES.values()}))
IndexRows = dict[str, list[tuple[Any, ...]]]


def index_resource(
    resource: dict[str, Any], registry: SearchRegistry, *, skip_absent: bool = True
) -> IndexRows:
    """Rows (param, grp, *columns) for every index table, for one resource.

    `skip_absent` skips parameters whose elements the resource lacks (see `roots`); turning
    it off evaluates every expression, which tests use to show the results are the same.
    """
    out: IndexRows = {table: [] for table in TABLES}
    resource_type = resource["resourceType"]
    if skip_absent:
        plan = registry.indexing(resource_type)
        chosen = dict(plan.always)
        for name in element_names(resource):
            chosen.update(plan.by_root.get(name, ()))
        params = sorted(chosen.items())
    else:
        params = [(c, p) for c, p in registry.for_type(resource_type).items() if p.extractor]
    evaluated: dict[str, list[TypedValue]] = {}  # parameters often share an expression
    shared: dict[tuple[str, int], list[TypedValue]] = {}  # component values, per element
    for code, param in params:
        extractor = param.extractor
        assert extractor is not None
        values = evaluated.get(extractor.expression)
        if values is None:
            values = evaluated[extractor.expression] = extractor(resource)
        if not values:
            continue
        if param.components:
            _composite_rows(out, param, values, resource, shared)
            continue
        module = MODULES.get(param.type)
        if module is None:
            continue
        rows = out[module.TABLE]
        rows.extend((code, None, *row) for row in module.rows(values))
        if module is token:
            rows.extend((code + token.OF_TYPE, None, *row) for row in token.of_type_rows(values))
    return out


def _composite_rows(
    out: IndexRows,
    param: IndexedParam,
    elements: list[TypedValue],
    resource: dict[str, Any],
    shared: dict[tuple[str, int], list[TypedValue]],
) -> None:
    """Component rows of each element that has every component, tied by `grp` = its number.

    Composites of one resource often share components (`code` in all `code-value-*`), so
    component values are computed once per element (`shared`).
    """
    for group, element in enumerate(elements, start=1):
        found = []
        for component in param.components:
            key = (component.extractor.expression, id(element.value))
            values = shared.get(key)
            if values is None:
                values = shared[key] = component.extractor.evaluate([element], resource)
            rows = MODULES[component.type].rows(values) if values else []
            if not rows:
                break  # a composite value needs every component
            found.append((component, rows))
        else:
            for component, rows in found:
                table = MODULES[component.type].TABLE
                out[table].extend((component.spec.code, group, *row) for row in rows)
