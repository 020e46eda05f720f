"""What the parameter-type modules share: the parameter spec, escaping, prefixes."""

from __future__ import annotations

from dataclasses import dataclass

from tsunagu.fhir.outcomes import FhirError, bad_request

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


@dataclass(frozen=True)
class ParamSpec:
    """What a condition needs to know about the parameter it searches."""

    code: str
    type: str
    targets: tuple[str, ...] = ()


def split_prefix(value: str) -> tuple[str, str]:
    """(`ge`, `2024`) from `ge2024`; `eq` when no prefix is given."""
    if len(value) > 2 and value[:2] in PREFIXES and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


def split_escaped(value: str, separator: str) -> list[str]:
    """Split on a separator that is not escaped with `\\`, and unescape the parts."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """A search value with FHIR's escapes taken out: `\\,` `\\$` `\\|` and `\\\\` stand
    for the character itself (search.html#escaping); for the types that read a value whole
    (string, uri, a token's text), where `split_escaped` does it for those that split it."""
    return split_escaped(value, "")[0]


def unsupported_modifier(spec: ParamSpec, modifier: str) -> FhirError:
    return bad_request(
        f"修飾子 ':{modifier}' は {spec.type} 型のパラメータ '{spec.code}' に使えません / "
        f"modifier ':{modifier}' is not supported on {spec.type} parameter '{spec.code}'",
        code="not-supported",
        expression=(f"{spec.code}:{modifier}",),
    )


def invalid_value(spec: ParamSpec, value: str, expected: str) -> FhirError:
    shown = value[:60]
    return bad_request(
        f"パラメータ '{spec.code}' の値 '{shown}' は不正です ({expected}) / "
        f"invalid value '{shown}' for parameter '{spec.code}': expected {expected}",
        expression=(spec.code,),
    )
