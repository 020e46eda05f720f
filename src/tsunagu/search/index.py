"""Index rows of a resource: what each of its search parameters extracts, per index table."""

from __future__ import annotations

from typing import Any

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.parameters import MODULES, IndexedParam, SearchRegistry
from tsunagu.search.params import token

TABLES = tuple(sorted({module.TABLE for module in MODULES.values()}))
IndexRows = dict[str, list[tuple[Any, ...]]]


def index_resource(resource: dict[str, Any], registry: SearchRegistry) -> IndexRows:
    """Rows (param, grp, *columns) for every index table, for one resource."""
    out: IndexRows = {table: [] for table in TABLES}
    for code, param in registry.for_type(resource["resourceType"]).items():
        if param.extractor is None:
            continue
        values = param.extractor(resource)
        if not values:
            continue
        if param.components:
            _composite_rows(out, code, param, values, resource)
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
    code: str,
    param: IndexedParam,
    elements: list[TypedValue],
    resource: dict[str, Any],
) -> None:
    """Component rows of each element, tied together by `grp` = the element's number."""
    for group, element in enumerate(elements, start=1):
        for component in param.components:
            module = MODULES[component.type]
            values = component.extractor.evaluate([element], resource)
            out[module.TABLE].extend(
                (component.spec.code, group, *row) for row in module.rows(values)
            )
