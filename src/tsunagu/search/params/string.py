"""string: names, addresses and plain strings; prefix match on normalised text by default.

Rows are (norm, exact): `norm` is `text.normalize`d (case, width, kana and accents folded),
`exact` the value as written, for `:exact`.
See: https://hl7.org/fhir/R4/search.html#string
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params.common import ParamSpec, unescape, unsupported_modifier
from tsunagu.search.sql import Fragment, starts_with
from tsunagu.search.text import like_escape, normalize

TABLE = "search_string"
COLUMNS = ("norm", "exact")
Row = tuple[str, str]

# The parts of complex types that a string search looks into.
PARTS = {
    "HumanName": ("text", "family", "given", "prefix", "suffix"),
    "Address": ("text", "line", "city", "district", "state", "postalCode", "country"),
}


def rows(values: list[TypedValue]) -> list[Row]:
    """Index rows for the values of one string parameter."""
    seen: set[str] = set()
    out: list[Row] = []
    for typed in values:
        for text in _strings(typed.value, typed.fhir_type):
            if text not in seen:
                seen.add(text)
                out.append((normalize(text), text))
    return out


def _strings(value: Any, fhir_type: str | None) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        kind = fhir_type if fhir_type in PARTS else _shape(value)
        for key in PARTS.get(kind, ()):
            part = value.get(key)
            if isinstance(part, str):
                yield part
            elif isinstance(part, list):
                yield from (p for p in part if isinstance(p, str))
        if kind == "HumanName":
            yield from _full_names(value)


def _full_names(name: dict[str, Any]) -> Iterator[str]:
    """Family and given names joined, with and without a space, so '山田太郎' and
    'Yamada Taro' find the name as people write it in full."""
    family = name.get("family")
    listed = name.get("given")
    given = [g for g in listed if isinstance(g, str)] if isinstance(listed, list) else []
    if isinstance(family, str) and given:
        yield f"{family}{''.join(given)}"
        yield f"{family} {' '.join(given)}"


def _shape(value: dict[str, Any]) -> str:
    if "family" in value or "given" in value:
        return "HumanName"
    if "line" in value or "city" in value or "postalCode" in value:
        return "Address"
    return ""


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    return spec.code


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    """Starts-with (default), `:contains` or `:exact`."""
    value = unescape(value)
    if modifier == "exact":
        return Fragment(f"{alias}.exact = ?", (value,))
    norm = normalize(value)
    if modifier == "contains":
        return Fragment(f"{alias}.norm LIKE ? ESCAPE '\\'", (f"%{like_escape(norm)}%",))
    if modifier is not None:
        raise unsupported_modifier(spec, modifier)
    return starts_with(f"{alias}.norm", norm)
