"""Parameters whose values other parameters of the same type already index.

Many R4 parameters select, on a given resource type, exactly what one or more other
parameters select: `Patient.phonetic` has the expression of `name`; `Observation.patient`
is `Observation.subject.where(resolve() is Patient)`, the `subject` values that refer to a
Patient; `Observation.combo-code` is `Observation.code | Observation.component.code`, the
values of `code` and of `component-code`. Such a parameter writes no index rows of its own:
its searches read its sources' rows, restricted to a target type where its expression says
`where(resolve() is T)`. Composites alias composites of the same components the same way
(`combo-code-value-quantity` is `code-value-quantity` on the Observation and
`component-code-value-quantity` on its components). The values are the same
(`tests/unit/search/test_aliases.py` checks it on every R4 example), and the rows are written
once instead of two or three times.

A composite on the resource itself (`Observation.code-value-quantity`: one value per
resource) needs no rows of its own either when each component selects what a plain parameter
selects: its `code` component is `Observation.code`, the `code` parameter, and its
`value.as(Quantity)` the `value-quantity` parameter (whose SampledData branch gives no quantity
rows). Its searches pair the plain parameters' rows of one resource (`component_sources`).

A string parameter on a name or an address indexes the strings of all its parts, and other
parameters index some of those parts alone: `Patient.name` holds what `family` (`Patient.name.
family`) and `given` hold. Its own rows keep only the rest (text, prefixes, full names), and
its searches read its rows and theirs together (`part_sources`).

This works on the expression text, one union branch (`|`) at a time, and only recognises
branches written alike (`(X as T)` and `X.as(T)` are alike); anything else keeps rows of its
own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

_WHERE_RESOLVE = re.compile(r"(.+)\.where\(resolve\(\) is ([A-Za-z]+)\)")


@dataclass(frozen=True)
class Source:
    """Rows of parameter `code` (only those whose target is `target_type`, if given)."""

    code: str
    target_type: str | None = None


@dataclass(frozen=True)
class Candidate:
    """What alias detection needs to know of a parameter."""

    code: str
    type: str
    expression: str | None
    indexable: bool  # it writes rows of its own kind (not composite, computed or a column)
    # Posted to this server: never the source of a core parameter, whose rows exist already
    # (custom parameters take effect after a reindex, core ones must keep working before).
    custom: bool = False
    # A composite's components (type and relative expression each): composites alias only
    # composites made of the same components.
    components: tuple[str, ...] = ()


def branches(expression: str, resource_type: str) -> frozenset[str]:
    """The top-level union branches of an expression that apply to this resource type."""
    own = (f"{resource_type}.", f"({resource_type}.")
    return frozenset(p for p in _union_parts(expression) if p.startswith(own) or p == resource_type)


def _union_parts(expression: str) -> list[str]:
    """The top-level union branches of an expression, stripped."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, char in enumerate(expression):
        if char == "'" and (i == 0 or expression[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == "|":
            parts.append(expression[start:i])
            start = i + 1
    parts.append(expression[start:])
    return [p.strip() for p in parts]


_AS_OPERATOR = re.compile(r"\(([A-Za-z][\w.]*) as ([A-Za-z]+)\)")
_AS_FUNCTION = re.compile(r"\.as\(([A-Za-z]+)\)$")


def _normal(branch: str) -> str:
    """A branch with `(X as T)` written as `X.as(T)`: the same filter (see `fhirpath`)."""
    return _AS_OPERATOR.sub(r"\1.as(\2)", branch)


def part_sources(
    resource_type: str,
    code: str,
    params: Mapping[str, Candidate],
    aliases: Mapping[str, object],
    parts_of: Callable[[str], frozenset[str]],
) -> tuple[str, ...]:
    """The string parameters that each select one part of what string parameter `code`
    selects (`Patient.name.family` of `Patient.name`): every branch of theirs is a branch of
    `code`'s followed by one of the parts that `parts_of(branch)` says its rows include.
    Their rows hold those values, so `code` need not write them again. Aliases write no
    rows and never take part; a core parameter never relies on a posted one's rows."""
    whole = params[code]
    if whole.type != "string" or not whole.indexable or whole.expression is None:
        return ()
    own = branches(whole.expression, resource_type)
    parts = {f"{b}.{part}" for b in own for part in parts_of(b)}
    if not parts:
        return ()
    return tuple(
        sorted(
            c
            for c, p in params.items()
            if c != code
            and p.type == "string"
            and p.indexable
            and c not in aliases
            and p.custom <= whole.custom
            and p.expression
            and (shape := branches(p.expression, resource_type))
            and shape <= parts
        )
    )


def component_sources(
    resource_type: str,
    code: str,
    params: Mapping[str, Candidate],
    aliases: Mapping[str, object],
    rowless: Mapping[str, frozenset[str]],
) -> tuple[str, ...]:
    """The plain parameters whose rows are the components' values of composite `code`, one
    per component, if it is a composite on the resource itself and every component has one
    (else nothing). `aliases` write no rows, so they are never sources; `rowless`: by
    parameter type, the types whose values give no rows in its table (a branch `X.as(T)` of
    such a type adds nothing)."""
    composite = params[code]
    if composite.expression is None or _union_parts(composite.expression) != [resource_type]:
        return ()

    def rows_from(kind: str, shape: Iterable[str]) -> frozenset[str]:
        normal = {_normal(b) for b in shape}
        return frozenset(
            b
            for b in normal
            if not ((m := _AS_FUNCTION.search(b)) and m.group(1) in rowless.get(kind, ()))
        )

    found: list[str] = []
    for component in composite.components:
        kind, _, relative = component.partition(" ")
        wanted = rows_from(kind, (f"{resource_type}.{b}" for b in _union_parts(relative)))
        same = sorted(
            c
            for c, p in params.items()
            if p.type == kind
            and p.indexable
            and not p.components
            and c not in aliases
            and p.custom <= composite.custom
            and p.expression
            and rows_from(kind, branches(p.expression, resource_type)) == wanted
        )
        if not same:
            return ()
        found.append(min(same, key=lambda c: (params[c].custom, c)))
    return tuple(found)


def find_sources(
    resource_type: str, params: Mapping[str, Candidate]
) -> dict[str, tuple[Source, ...]]:
    """The parameters of a type that are aliases, with the sources their rows come from
    (sources are never aliases themselves)."""
    shapes = {
        code: branches(p.expression, resource_type)
        for code, p in params.items()
        if p.indexable and p.expression
    }
    direct: dict[str, tuple[Source, ...]] = {}
    for code, own in shapes.items():
        if not own:
            continue
        found = _cover(code, own, params, shapes)
        if found is not None:
            direct[code] = found
    return {code: _flatten(code, direct) for code in direct if _flatten(code, direct)}


def _cover(
    code: str,
    own: frozenset[str],
    params: Mapping[str, Candidate],
    shapes: Mapping[str, frozenset[str]],
) -> tuple[Source, ...] | None:
    """Sources whose branches make up exactly `own`, or None."""
    kind = params[code].type

    def may_source(c: str) -> bool:
        other = params[c]
        return (
            c != code
            and other.type == kind
            and other.components == params[code].components
            and other.custom <= params[code].custom
        )

    def rank(c: str) -> tuple[bool, str]:
        return params[c].custom, c

    plain = {b for b in own if not _WHERE_RESOLVE.fullmatch(b)}
    sources: list[Source] = []
    for branch in sorted(own - plain):
        match = _WHERE_RESOLVE.fullmatch(branch)
        assert match is not None
        base, target = match.group(1), match.group(2)
        same = [c for c, shape in shapes.items() if shape == {base} and may_source(c)]
        if kind != "reference" or not same:
            return None
        sources.append(Source(min(same, key=rank), target))
    covered: set[str] = set()
    # Largest first, so that `combo-value-quantity` takes `value-quantity` whole.
    candidates = sorted(
        (
            (c, shape)
            for c, shape in shapes.items()
            if may_source(c)
            and shape
            and shape <= plain
            # Of two alike, one keeps the rows: a core one before a custom one, then by code.
            and (shape != own or rank(c) < rank(code))
        ),
        key=lambda item: (-len(item[1]), rank(item[0])),
    )
    for c, shape in candidates:
        if not shape <= covered:
            covered |= shape
            sources.append(Source(c))
    if covered != plain:
        return None
    return tuple(sources)


def _flatten(code: str, direct: Mapping[str, tuple[Source, ...]]) -> tuple[Source, ...]:
    """An alias's sources with aliases among them replaced by their own sources."""
    out: list[Source] = []
    for source in direct[code]:
        if source.code not in direct:
            out.append(source)
            continue
        for inner in _flatten(source.code, direct):
            if source.target_type and inner.target_type and source.target_type != inner.target_type:
                continue  # a Patient restriction of rows kept for Groups only: nothing
            out.append(Source(inner.code, source.target_type or inner.target_type))
    return tuple(dict.fromkeys(out))
