"""number: integers and decimals, compared with the precision of the search value.

`100` means [99.5, 100.5); `100.00` means [99.995, 100.005); `1e2` has one significant figure,
[50, 150) (the R4 table's example says [95, 105), against its own "1 significant figure").
Stored values are ranges too (`low`, `high`): a number is a point, low = high; a Range
(`RiskAssessment.prediction.probability`) its low and high, so Ranges compare the same way.
See: https://hl7.org/fhir/R4/search.html#number
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params.common import (
    ParamSpec,
    invalid_value,
    split_prefix,
    unsupported_modifier,
)
from tsunagu.search.sql import Fragment

TABLE = "search_number"
COLUMNS = ("low", "high")
Row = tuple[float, float]


# The ends of an open Range (no low, or no high).
LOWEST = float("-1e308")
HIGHEST = float("1e308")


def rows(values: list[TypedValue]) -> list[Row]:
    """Index rows: each number as a point, a Range (`RiskAssessment.prediction.probability`)
    as its low and high."""
    out: set[Row] = set()
    for typed in values:
        value = as_number(typed.value)
        if value is not None:
            out.add((value, value))
        elif isinstance(typed.value, dict):
            bounds = range_bounds(typed.value)
            if bounds is not None:
                out.add(bounds)
    return sorted(out)


def range_bounds(value: dict[str, Any]) -> Row | None:
    """A Range's (low, high), an open end as the end of the number line; None if it has
    neither (or is not a Range)."""
    low, high = value.get("low"), value.get("high")
    if not isinstance(low, dict) and not isinstance(high, dict):
        return None
    lo = as_number(low.get("value")) if isinstance(low, dict) else None
    hi = as_number(high.get("value")) if isinstance(high, dict) else None
    return (LOWEST if lo is None else lo, HIGHEST if hi is None else hi)


def parse(spec: ParamSpec, raw: str) -> tuple[str, float, float, float]:
    """(prefix, value, low, high) of a number search value; 400 if it is not a number."""
    prefix, text = split_prefix(raw)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise invalid_value(spec, raw, "a number such as 5, 5.40 or gt100") from None
    if not number.is_finite():
        raise invalid_value(spec, raw, "a finite number")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5) * Decimal(10) ** (exponent - 1)
    return prefix, float(number), float(number - half), float(number + half)


Condition = Callable[[str, float, float, float], Fragment]

# prefix -> condition on stored [low, high] against value v with implied range [lo, hi).
CONDITIONS: dict[str, Condition] = {
    "eq": lambda a, v, lo, hi: Fragment(f"{a}.low >= ? AND {a}.high < ?", (lo, hi)),
    "ne": lambda a, v, lo, hi: Fragment(f"NOT ({a}.low >= ? AND {a}.high < ?)", (lo, hi)),
    "gt": lambda a, v, lo, hi: Fragment(f"{a}.high > ?", (v,)),
    "lt": lambda a, v, lo, hi: Fragment(f"{a}.low < ?", (v,)),
    "ge": lambda a, v, lo, hi: Fragment(f"{a}.high >= ?", (v,)),
    "le": lambda a, v, lo, hi: Fragment(f"{a}.low <= ?", (v,)),
    "sa": lambda a, v, lo, hi: Fragment(f"{a}.low > ?", (v,)),
    "eb": lambda a, v, lo, hi: Fragment(f"{a}.high < ?", (v,)),
    "ap": lambda a, v, lo, hi: Fragment(
        f"{a}.low <= ? AND {a}.high >= ?", (v + abs(v) * 0.1, v - abs(v) * 0.1)
    ),
}


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    return spec.code


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    if modifier is not None:
        raise unsupported_modifier(spec, modifier)
    prefix, number, low, high = parse(spec, value)
    return CONDITIONS[prefix](alias, number, low, high)


def as_number(value: Any) -> float | None:
    """A JSON number (int, float or Decimal) as a float; None for anything else."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    return None
