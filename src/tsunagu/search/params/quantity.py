"""quantity: Quantity (and Range, SampledData origin) values with system and unit.

`5.4|http://unitsofmeasure.org|mg`, `5.4||mg` (code or unit), or just `5.4`; prefixes and
precision as for numbers. Units are compared as written: no UCUM conversion (yet).
See: https://hl7.org/fhir/R4/search.html#quantity
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params import number
from tsunagu.search.params.common import ParamSpec, split_escaped, unsupported_modifier
from tsunagu.search.sql import Fragment

TABLE = "search_quantity"
COLUMNS = ("system", "code", "unit", "low", "high")
Row = tuple[str, str, str, float, float]
# Values of these types give no rows: a SampledData (in `Observation.value-quantity`) is a
# series, not a quantity. `search.aliases` relies on it (`value-quantity` then selects what
# `code-value-quantity`'s `value.as(Quantity)` does).
SKIPPED_TYPES = frozenset({"SampledData"})


def rows(values: list[TypedValue]) -> list[Row]:
    """Index rows for Quantity and Range values."""
    out: set[Row] = set()
    for typed in values:
        if typed.fhir_type not in SKIPPED_TYPES:
            out.update(_rows(typed.value))
    return sorted(out)


def _rows(value: Any) -> Iterator[Row]:
    if not isinstance(value, dict):
        return
    point = number.as_number(value.get("value"))
    if point is not None:
        yield (_text(value, "system"), _text(value, "code"), _text(value, "unit"), point, point)
        return
    bounds = number.range_bounds(value)
    if bounds is not None:
        low, high = value.get("low"), value.get("high")
        unit_from = low if isinstance(low, dict) else high
        assert isinstance(unit_from, dict)
        system, code, unit = (_text(unit_from, key) for key in ("system", "code", "unit"))
        yield (system, code, unit, *bounds)


def _text(value: dict[str, Any], key: str) -> str:
    item = value.get(key)
    return item if isinstance(item, str) else ""


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    return spec.code


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    if modifier is not None:
        raise unsupported_modifier(spec, modifier)
    parts = split_escaped(value, "|")
    prefix, point, low, high = number.parse(spec, parts[0])
    result = number.CONDITIONS[prefix](alias, point, low, high)
    system = parts[1] if len(parts) > 1 else ""
    code = "|".join(parts[2:]) if len(parts) > 2 else ""
    if system and code:
        result = result & Fragment(f"{alias}.system = ? AND {alias}.code = ?", (system, code))
    elif code:
        result = result & Fragment(f"({alias}.code = ? OR {alias}.unit = ?)", (code, code))
    return result
