"""uri: exact match, or `:above` / `:below` on the URL hierarchy.

See: https://hl7.org/fhir/R4/search.html#uri
"""

from __future__ import annotations

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params.common import ParamSpec, unescape, unsupported_modifier
from tsunagu.search.sql import Fragment, starts_with

TABLE = "search_uri"
COLUMNS = ("uri",)


def rows(values: list[TypedValue]) -> list[tuple[str]]:
    """Index rows: every string value (uri, url, canonical)."""
    return sorted({(v.value,) for v in values if isinstance(v.value, str)})


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    return spec.code


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    value = unescape(value)
    if modifier is None:
        return Fragment(f"{alias}.uri = ?", (value,))
    if modifier == "below":  # stored URL starts with the search value
        return starts_with(f"{alias}.uri", value)
    if modifier == "above":  # the search value starts with the stored URL
        return Fragment(f"? LIKE ({alias}.uri || ?)", (value, "%"))
    raise unsupported_modifier(spec, modifier)
