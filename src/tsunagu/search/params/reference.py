"""reference: references to other resources, by `Type/id`, id, absolute URL or identifier.

Rows are (target_type, target_id, target_version, url, ident_system, ident_value). Relative
references (`Patient/1`, `Patient/1/_history/2`) fill the target columns; absolute URLs and
canonicals fill `url` only (the server stores references to itself relative, so an absolute
URL is another server's); a Reference with only an identifier fills the identifier columns.
See: https://hl7.org/fhir/R4/search.html#reference
"""

from __future__ import annotations

import re
from typing import Any

from tsunagu.fhir.resources import looks_like_type
from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params import token
from tsunagu.search.params.common import ParamSpec, invalid_value, unsupported_modifier
from tsunagu.search.sql import Fragment

TABLE = "search_reference"
COLUMNS = ("target_type", "target_id", "target_version", "url", "ident_system", "ident_value")
Row = tuple[str | None, str | None, str | None, str | None, str | None, str | None]
_TAIL = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([^/]+))?")


def rows(values: list[TypedValue]) -> list[Row]:
    """Index rows for Reference, canonical and uri values."""
    out: set[Row] = set()
    for typed in values:
        row = _row(typed.value)
        if row is not None:
            out.add(row)
    return sorted(out, key=lambda r: tuple(v or "" for v in r))


def _row(value: Any) -> Row | None:
    if isinstance(value, str):  # canonical or uri
        return _parse(value)
    if not isinstance(value, dict):
        return None
    ref = value.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        return _parse(ref)
    identifier = value.get("identifier")
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        system = identifier.get("system")
        return (
            None,
            None,
            None,
            None,
            system if isinstance(system, str) else "",
            identifier["value"],
        )
    return None


def _parse(ref: str) -> Row | None:
    if "://" in ref or ref.startswith("urn:"):
        # Another server's resource (references to this server are stored relative): it is
        # found by its URL only, never mistaken for a local resource with the same id.
        return (None, None, None, ref, None, None)
    match = _TAIL.fullmatch(ref)
    if match is None or not looks_like_type(match.group(1)):
        return None
    rtype, rid, version = match.groups()
    return (rtype, rid, version, None, None, None)


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    return spec.code


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    """`Type/id`, `id` (with `:Type` or a single target), an absolute URL, or `:identifier`."""
    if modifier == "identifier":
        return token.match(alias, value, system="ident_system", code="ident_value")
    if modifier is not None and not looks_like_type(modifier):
        raise unsupported_modifier(spec, modifier)
    if "://" in value or value.startswith("urn:"):
        return Fragment(f"{alias}.url = ?", (value,))
    parts = value.split("/")
    version = None
    if len(parts) == 4 and parts[2] == "_history":
        parts, version = parts[:2], parts[3]
    if len(parts) == 2:
        rtype, rid = parts
        if modifier is not None and modifier != rtype:
            raise invalid_value(spec, value, f"a reference to {modifier}")
    elif len(parts) == 1 and parts[0]:
        rid = parts[0]
        rtype = modifier or (spec.targets[0] if len(spec.targets) == 1 else "")
    else:
        raise invalid_value(spec, value, "Type/id, id or an absolute URL")
    result = Fragment(f"{alias}.target_id = ?", (rid,))
    if rtype:
        result = result & Fragment(f"{alias}.target_type = ?", (rtype,))
    if version is not None:
        result = result & Fragment(f"{alias}.target_version = ?", (version,))
    return result
