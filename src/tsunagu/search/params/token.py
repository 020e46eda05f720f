"""token: codes, Codings, CodeableConcepts, Identifiers, ContactPoints, booleans.

Rows are (system, code, text): `system` is '' when the value has none; `text` is the
normalised display/text used by `:text`. Identifiers with a type also get an `of-type` row
keyed `param|of-type`, code `typeCode|value`, so `:of-type` is a plain lookup.
See: https://hl7.org/fhir/R4/search.html#token
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from tsunagu.search.fhirpath import TypedValue
from tsunagu.search.params.common import ParamSpec, split_escaped, unescape, unsupported_modifier
from tsunagu.search.sql import Fragment, starts_with
from tsunagu.search.text import normalize

TABLE = "search_token"
COLUMNS = ("system", "code", "text")
OF_TYPE = "|of-type"
Row = tuple[str, str | None, str | None]


def rows(values: list[TypedValue]) -> list[Row]:
    """Index rows for the values of one token parameter, each once: a search matches a
    resource when any of its rows matches, so a repeated row (an AuditEvent's entities of
    one type and role) adds nothing but its cost."""
    out: list[Row] = []
    for typed in values:
        out.extend(_rows(typed.value, typed.fhir_type))
    return out if len(out) < 2 else list(dict.fromkeys(out))


def of_type_rows(values: list[TypedValue]) -> list[Row]:
    """Rows for `:of-type`: Identifier.type codings combined with Identifier.value (each
    once, as `rows`)."""
    out: list[Row] = []
    for typed in values:
        item = typed.value
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            continue
        for coding in _codings(item.get("type")):
            if isinstance(coding.get("code"), str):
                out.append((_system(coding), f"{coding['code']}|{item['value']}", None))
    return out if len(out) < 2 else list(dict.fromkeys(out))


def _rows(value: Any, fhir_type: str | None) -> Iterator[Row]:
    if isinstance(value, bool):
        yield ("", "true" if value else "false", None)
    elif isinstance(value, str | int | float | Decimal):
        yield ("", str(value), None)
    elif isinstance(value, dict):
        kind = fhir_type or _shape(value)
        if kind == "CodeableConcept":
            text = value.get("text")
            for coding in _codings(value):
                yield from _coding(coding)
            if isinstance(text, str):
                yield ("", None, normalize(text))
        elif kind == "Coding":
            yield from _coding(value)
        elif kind == "Identifier":
            if isinstance(value.get("value"), str):
                type_text = (value.get("type") or {}).get("text")
                shown = normalize(type_text) if isinstance(type_text, str) else None
                yield (_system(value), value["value"], shown)
        elif kind == "ContactPoint":
            if isinstance(value.get("value"), str):
                yield ("", value["value"], None)
        elif isinstance(value.get("code"), str):  # Quantity or any coded element
            yield (_system(value), value["code"], None)


def _coding(coding: dict[str, Any]) -> Iterator[Row]:
    code = coding.get("code")
    display = coding.get("display")
    text = normalize(display) if isinstance(display, str) else None
    if isinstance(code, str) or text is not None:
        yield (_system(coding), code if isinstance(code, str) else None, text)


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    codings = concept.get("coding")
    return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []


def _system(item: dict[str, Any]) -> str:
    system = item.get("system")
    return system if isinstance(system, str) else ""


def _shape(value: dict[str, Any]) -> str:
    if "coding" in value or ("text" in value and len(value) == 1):
        return "CodeableConcept"
    if "value" in value and ("system" in value or "type" in value or "use" in value):
        return "ContactPoint" if value.get("system") in _CONTACT_SYSTEMS else "Identifier"
    return "Coding"


_CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}


def param_key(spec: ParamSpec, modifier: str | None) -> str:
    """The `param` value of the index rows a modifier searches."""
    return spec.code + OF_TYPE if modifier == "of-type" else spec.code


def condition(alias: str, value: str, modifier: str | None, spec: ParamSpec) -> Fragment:
    """Match one token search value (`code`, `system|code`, `|code`, `system|`)."""
    if modifier == "text":
        return starts_with(f"{alias}.text", normalize(unescape(value)))
    if modifier == "of-type":
        parts = split_escaped(value, "|")
        if len(parts) != 3:
            raise unsupported_modifier(spec, "of-type (system|code|value)")
        return Fragment(
            f"{alias}.system = ? AND {alias}.code = ?", (parts[0], f"{parts[1]}|{parts[2]}")
        )
    if modifier not in (None, "not"):
        raise unsupported_modifier(spec, modifier)
    return match(alias, value)


def match(alias: str, value: str, *, system: str = "system", code: str = "code") -> Fragment:
    """The plain token match (no modifier), on the given system and code columns."""
    parts = split_escaped(value, "|")
    if len(parts) == 1:
        return Fragment(f"{alias}.{code} = ?", (parts[0],))
    wanted_system, wanted_code = parts[0], "|".join(parts[1:])
    if not wanted_code:
        return Fragment(f"{alias}.{system} = ?", (wanted_system,))
    return Fragment(f"{alias}.{code} = ? AND {alias}.{system} = ?", (wanted_code, wanted_system))
