"""A search request's query string, parsed into a `SearchQuery`.

Parsing resolves every parameter against the registry (so chains, `_has` and includes are
checked before any SQL is built), splits OR values on unescaped commas, and sorts unknown
parameters into `ignored` (the caller reports them, or refuses them under strict handling).
See: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tsunagu.fhir.outcomes import FhirError, bad_request
from tsunagu.search.parameters import COLUMN_PARAMS, IndexedParam, SearchRegistry
from tsunagu.search.params.common import split_escaped
from tsunagu.search.terminology import MAX_CODES, Direction

DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_CHAIN_DEPTH = 4
RESULT_PARAMS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_total",
        "_summary",
        "_elements",
        "_contained",
        "_containedType",
        "_format",
        "_pretty",
        "_cursor",
        "_type",
    }
)
# Modifiers each parameter type accepts (besides `missing`, which all accept).
MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"exact", "contains"}),
    "token": frozenset({"text", "not", "of-type", "in", "not-in", "above", "below"}),
    "reference": frozenset({"identifier"}),
    "uri": frozenset({"above", "below"}),
    "date": frozenset(),
    "number": frozenset(),
    "quantity": frozenset(),
    "composite": frozenset(),
    "special": frozenset(),
}


@dataclass(frozen=True)
class Criterion:
    """One parameter of the query: its values are OR-ed; criteria are AND-ed."""

    param: IndexedParam
    modifier: str | None
    values: tuple[str, ...]
    # A chained parameter: for each possible target type, the criterion on the target.
    chain: tuple[tuple[str, Criterion], ...] = ()
    # Reverse chaining (`_has:Type:param:...`): the referring type and its reference param.
    has: tuple[str, IndexedParam] | None = None


@dataclass(frozen=True)
class SortKey:
    param: IndexedParam
    descending: bool


@dataclass(frozen=True)
class Include:
    """`_include=Source:param[:Target]` or `_revinclude=Source:param[:Target]`."""

    source_type: str
    param: IndexedParam | None  # None for the `*` wildcard
    target_type: str | None
    iterate: bool
    reverse: bool


@dataclass(frozen=True)
class CareDates:
    """`$everything`'s `start` and `end`: the resources whose date of care (by type, the
    `param` values of its date rows) meets [start, end), and those that have none."""

    rows: tuple[tuple[str, tuple[str, ...]], ...]
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Compartment:
    """Restrict results to a compartment (`Patient/123/Observation`, `$everything`).

    `params` names, per resource type, the `param` values of the reference rows that put a
    resource in the compartment (an alias's sources: `SearchRegistry.row_codes`);
    `include_owner` also matches the compartment's own resource;
    `owner_checked` matches nothing unless the owner exists (current, not deleted);
    `care` keeps only the resources cared for in a period (`$everything?start=&end=`).
    """

    owner_type: str
    owner_id: str
    params: tuple[tuple[str, tuple[str, ...]], ...]
    include_owner: bool = False
    owner_checked: bool = False
    care: CareDates | None = None


@dataclass(frozen=True)
class AccessFilter:
    """Which resources the caller may see, applied inside the SQL of every selection, chain,
    `_has`, include and count (see `plan.access_condition` and docs/security.md).

    Each resource has an access class, an owner facility and a patient (`resource_access`).
    A class listed in `open` is visible; in `owned`, when `facility` wrote it; in `consented`,
    also under a grant for (patient, facility, that category); in `related`, also under any
    grant for the patient. Grants count when valid at `at` and not for another `subject`.
    `patient` confines the types in `confined` ("*": all) to that patient's compartment;
    `types` (None: any) limits the readable resource types.
    """

    at: datetime
    facility: str | None
    subject: str
    open: tuple[str, ...] = ()
    owned: tuple[str, ...] = ()
    consented: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    patient: str | None = None
    confined: tuple[str, ...] = ()
    types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SearchQuery:
    resource_types: tuple[str, ...]
    criteria: tuple[Criterion, ...] = ()
    sort: tuple[SortKey, ...] = ()
    includes: tuple[Include, ...] = ()
    count: int = DEFAULT_COUNT
    total: str = "none"
    cursor: str | None = None
    ignored: tuple[str, ...] = field(default=())
    compartment: Compartment | None = None
    # The caller's access filter; None: no access control (--insecure-dev).
    access: AccessFilter | None = None
    # Fetch each match's patient from its access facts (for the audit, which needs them).
    patients: bool = False


def parse(
    registry: SearchRegistry,
    resource_types: Sequence[str],
    pairs: Sequence[tuple[str, str]],
) -> SearchQuery:
    """Parse query pairs for a search over `resource_types` (one type, or several for `_type`)."""
    criteria: list[Criterion] = []
    ignored: list[str] = []
    for name, value in pairs:
        if name == "_contained" and value != "false":
            ignored.append(name)  # contained resources are not searched (yet): say so
            continue
        if name in RESULT_PARAMS or name.partition(":")[0] in ("_include", "_revinclude"):
            continue
        try:
            criterion = _criterion(registry, resource_types, name, value, depth=0)
        except _Unknown:
            ignored.append(name)
            continue
        criteria.append(criterion)
    return SearchQuery(
        resource_types=tuple(resource_types),
        criteria=tuple(criteria),
        sort=_sort(registry, resource_types, _last(pairs, "_sort")),
        includes=tuple(_includes(registry, resource_types, pairs)),
        count=parse_count(_last(pairs, "_count")),
        total=_total(_last(pairs, "_total")),
        cursor=_last(pairs, "_cursor"),
        ignored=tuple(ignored),
    )


class _Unknown(Exception):
    """A parameter the server does not know (lenient handling ignores it)."""


def _last(pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    found = [v for k, v in pairs if k == name]
    return found[-1] if found else None


def _lookup(registry: SearchRegistry, resource_types: Sequence[str], code: str) -> IndexedParam:
    """The parameter, which must exist on every type searched (for `_type` searches)."""
    found = [registry.get(t, code) for t in resource_types]
    if not found or any(p is None for p in found):
        raise _Unknown(code)
    param = found[0]
    assert param is not None
    return param


def _criterion(
    registry: SearchRegistry, types: Sequence[str], name: str, value: str, *, depth: int
) -> Criterion:
    if depth > MAX_CHAIN_DEPTH:
        raise bad_request(
            f"チェーンが深すぎます (最大 {MAX_CHAIN_DEPTH}) / chains may be at most "
            f"{MAX_CHAIN_DEPTH} levels deep",
            code="too-costly",
        )
    if name.startswith("_has:"):
        return _has(registry, types, name, value, depth=depth)
    head, dot, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    param = _lookup(registry, types, code)
    if dot:
        return _chain(registry, param, modifier or None, rest, value, depth=depth)
    return _plain(registry, param, modifier or None, value)


def _plain(
    registry: SearchRegistry, param: IndexedParam, modifier: str | None, value: str
) -> Criterion:
    if modifier == "missing":
        if value not in ("true", "false"):
            raise bad_request(
                f"'{param.code}:missing' の値は true か false です / "
                f"'{param.code}:missing' takes true or false",
                expression=(f"{param.code}:missing",),
            )
        return Criterion(param, modifier, (value,))
    allowed = MODIFIERS.get(param.type, frozenset())
    targets = param.definition.target
    is_type_modifier = param.type == "reference" and modifier is not None and modifier in targets
    if modifier is not None and modifier not in allowed and not is_type_modifier:
        raise _bad_modifier(param, modifier)
    if param.code in COLUMN_PARAMS and modifier is not None:
        raise _bad_modifier(param, modifier)
    values = tuple(v for v in split_escaped_keep(value) if v != "")
    if not values:
        raise bad_request(
            f"パラメータ '{param.code}' に値がありません / parameter '{param.code}' has no value",
            expression=(param.code,),
        )
    if param.type == "token" and modifier in ("in", "not-in"):
        # The value set's codes, OR-ed; `:not-in` is `:not` of them all.
        codes = _value_set_codes(registry, param, modifier, values)
        return Criterion(param, "not" if modifier == "not-in" else None, codes)
    if param.type == "token" and modifier in ("above", "below"):
        return Criterion(param, None, _related_codes(registry, param, modifier, values))
    return Criterion(param, modifier, values)


def _related_codes(
    registry: SearchRegistry, param: IndexedParam, modifier: str, values: tuple[str, ...]
) -> tuple[str, ...]:
    """`system|code` search values of the codes at or below (above) each `system|code`."""
    where = (f"{param.code}:{modifier}",)
    found: set[tuple[str, str]] = set()
    for value in values:
        parts = split_escaped(value, "|")
        if len(parts) != 2 or not all(parts):
            raise bad_request(
                f"'{param.code}:{modifier}' の値は system|code です / "
                f"'{param.code}:{modifier}' takes system|code",
                expression=where,
            )
        system, code = parts
        direction: Direction = "below" if modifier == "below" else "above"
        terminology = registry.terminology
        related = (
            None if terminology is None else terminology.related_codes(system, code, direction)
        )
        if related is None:
            raise bad_request(
                f"コード体系 '{system}' の階層をこのサーバーは知りません (コード '{code}') / "
                f"this server cannot list the hierarchy of '{system}' for code '{code}'",
                code="not-supported",
                expression=where,
            )
        found |= related
    return _code_values(found, where)


def _value_set_codes(
    registry: SearchRegistry, param: IndexedParam, modifier: str, urls: tuple[str, ...]
) -> tuple[str, ...]:
    """`system|code` search values (escaped) of every code of the value sets `urls`."""
    where = (f"{param.code}:{modifier}",)
    found: set[tuple[str, str]] = set()
    for url in urls:
        expanded = (
            None if registry.terminology is None else registry.terminology.value_set_codes(url)
        )
        if expanded is None:
            raise bad_request(
                f"値セット '{url}' はこのサーバーにありません / unknown value set '{url}'",
                code="not-found",
                expression=where,
            )
        if not expanded.complete:
            raise bad_request(
                f"値セット '{url}' はここで全てのコードに展開できません / value set '{url}' "
                "cannot be expanded to all of its codes here",
                code="not-supported",
                expression=where,
            )
        found |= expanded.codes
    if not found:
        raise bad_request(
            f"値セット '{', '.join(urls)}' にコードがありません / value set has no codes",
            expression=where,
        )
    values = _code_values(found, where)
    # A `code` element (`gender`, `status`) is indexed without a system, which its binding
    # implies: a code of the value set with no system matches too (`|code`).
    return (*values, *sorted({f"|{_escape(code)}" for _, code in found}))


def _code_values(found: set[tuple[str, str]], where: tuple[str, ...]) -> tuple[str, ...]:
    """(system, code) pairs as token search values; 400 when there are too many."""
    if len(found) > MAX_CODES:
        raise bad_request(
            f"コードが多すぎます ({len(found)}、最大 {MAX_CODES}) / {len(found)} codes, more "
            f"than the {MAX_CODES} a search may use",
            code="too-costly",
            expression=where,
        )
    return tuple(sorted({f"{_escape(system)}|{_escape(code)}" for system, code in found}))


def _escape(text: str) -> str:
    """A part of a token value as the token parser reads it (`params.common.split_escaped`):
    backslashes and bars escaped."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


def split_escaped_keep(value: str) -> list[str]:
    """OR values: split on unescaped commas, keeping other escapes for the type's own parser."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            current.append(ch if ch == "," else "\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _chain(
    registry: SearchRegistry,
    param: IndexedParam,
    target: str | None,
    rest: str,
    value: str,
    *,
    depth: int,
) -> Criterion:
    if param.type != "reference":
        raise bad_request(
            f"'{param.code}' は参照型ではないのでチェーンできません / "
            f"'{param.code}' is not a reference parameter and cannot be chained",
            expression=(param.code,),
        )
    targets = (target,) if target else param.definition.target
    branches: list[tuple[str, Criterion]] = []
    for target_type in targets:
        try:
            branches.append(
                (target_type, _criterion(registry, [target_type], rest, value, depth=depth + 1))
            )
        except _Unknown:
            continue
    if not branches:
        raise _Unknown(f"{param.code}.{rest}")
    return Criterion(param, target, (), chain=tuple(branches))


def _has(
    registry: SearchRegistry, types: Sequence[str], name: str, value: str, *, depth: int
) -> Criterion:
    parts = name.split(":", 3)
    if len(parts) != 4 or not parts[1] or not parts[2] or not parts[3]:
        raise bad_request(
            f"_has の形式が不正です ('{name[:80]}'): _has:型:参照パラメータ:パラメータ / "
            f"malformed _has '{name[:80]}': expected _has:Type:reference:parameter",
            expression=("_has",),
        )
    _, source_type, ref_code, rest = parts
    if source_type not in registry.definitions.resource_types:
        raise bad_request(
            f"_has の型 '{source_type}' は不明です / unknown type '{source_type}' in _has",
            expression=("_has",),
        )
    ref = registry.get(source_type, ref_code)
    if ref is None or ref.type != "reference":
        raise bad_request(
            f"'{source_type}' に参照パラメータ '{ref_code}' はありません / "
            f"'{source_type}' has no reference parameter '{ref_code}'",
            expression=("_has",),
        )
    inner = _criterion(registry, [source_type], rest, value, depth=depth + 1)
    return Criterion(ref, None, (), chain=((source_type, inner),), has=(source_type, ref))


def _bad_modifier(param: IndexedParam, modifier: str) -> FhirError:
    return bad_request(
        f"修飾子 ':{modifier}' は {param.type} 型のパラメータ '{param.code}' に使えません / "
        f"modifier ':{modifier}' is not supported on {param.type} parameter '{param.code}'",
        code="not-supported",
        expression=(f"{param.code}:{modifier}",),
    )


SORTABLE = frozenset({"string", "token", "date", "number", "quantity", "uri", "reference"})


def _sort(registry: SearchRegistry, types: Sequence[str], raw: str | None) -> tuple[SortKey, ...]:
    if not raw:
        return ()
    keys: list[SortKey] = []
    for item in raw.split(","):
        code = item.strip()
        descending = code.startswith("-")
        code = code.lstrip("-")
        try:
            param = _lookup(registry, types, code)
        except _Unknown:
            raise bad_request(
                f"_sort のパラメータ '{code[:60]}' は不明です / "
                f"unknown _sort parameter '{code[:60]}'",
                expression=("_sort",),
            ) from None
        if param.type not in SORTABLE:
            raise bad_request(
                f"'{code}' ({param.type}) では並べ替えできません / cannot sort by '{code}'",
                expression=("_sort",),
            )
        keys.append(SortKey(param, descending))
    return tuple(keys)


def _includes(
    registry: SearchRegistry, types: Sequence[str], pairs: Sequence[tuple[str, str]]
) -> list[Include]:
    result: list[Include] = []
    for name, value in pairs:
        base, _, modifier = name.partition(":")
        if base not in ("_include", "_revinclude"):
            continue
        if modifier not in ("", "iterate", "recurse"):
            raise bad_request(
                f"{name} の修飾子は :iterate のみです / {base} takes only the :iterate modifier",
                expression=(base,),
            )
        result.append(
            _include(registry, value, reverse=base == "_revinclude", iterate=bool(modifier))
        )
    return result


def _include(registry: SearchRegistry, value: str, *, reverse: bool, iterate: bool) -> Include:
    parts = value.split(":")
    name = "_revinclude" if reverse else "_include"
    if value == "*":
        return Include("*", None, None, iterate, reverse)
    if len(parts) not in (2, 3) or parts[0] not in registry.definitions.resource_types:
        raise bad_request(
            f"{name} の値 '{value[:80]}' は 型:パラメータ[:対象型] の形式です / "
            f"{name} takes Type:parameter[:targetType], got '{value[:80]}'",
            expression=(name,),
        )
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if code == "*":
        return Include(source, None, target, iterate, reverse)
    param = registry.get(source, code)
    if param is None or param.type != "reference":
        raise bad_request(
            f"'{source}' に参照パラメータ '{code}' はありません / "
            f"'{source}' has no reference parameter '{code}'",
            expression=(name,),
        )
    return Include(source, param, target, iterate, reverse)


def parse_count(raw: str | None) -> int:
    """`_count` as an int in 0..MAX_COUNT (larger values are capped); 400 if not a number."""
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit():
        raise bad_request(
            f"_count の値 '{raw[:40]}' は 0 以上の整数ではありません / "
            f"_count must be a non-negative integer, got '{raw[:40]}'",
            expression=("_count",),
        )
    return min(int(raw), MAX_COUNT)


def _total(raw: str | None) -> str:
    if raw is None:
        return "none"
    if raw not in ("none", "estimate", "accurate"):
        raise bad_request(
            f"_total の値 '{raw[:40]}' は none / estimate / accurate のいずれかです / "
            f"_total must be none, estimate or accurate",
            expression=("_total",),
        )
    return raw


__all__ = ["Compartment", "Criterion", "Include", "SearchQuery", "SortKey", "parse"]
