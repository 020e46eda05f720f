"""Custom SearchParameter resources (JP Core defines some) turned into parameter definitions."""

from __future__ import annotations

from typing import Any, cast, get_args

from tsunagu.fhir.definitions import SearchParameterComponent, SearchParameterDef, SearchParamType

_TYPES = frozenset(get_args(SearchParamType))


def parameter_from_resource(resource: dict[str, Any]) -> SearchParameterDef:
    """The definition a SearchParameter resource describes; ValueError says what is missing."""
    code, kind, expression = resource.get("code"), resource.get("type"), resource.get("expression")
    base = resource.get("base")
    if not isinstance(code, str) or not code:
        raise ValueError("SearchParameter.code is required")
    if kind not in _TYPES:
        raise ValueError(f"SearchParameter.type {kind!r} is not a search parameter type")
    if not isinstance(base, list) or not all(isinstance(b, str) for b in base) or not base:
        raise ValueError("SearchParameter.base must name at least one resource type")
    if kind != "special" and not isinstance(expression, str):
        raise ValueError("SearchParameter.expression is required")
    url = resource.get("url")
    return SearchParameterDef(
        url=url if isinstance(url, str) else f"urn:tsunagu:SearchParameter/{resource.get('id')}",
        code=code,
        base=tuple(base),
        type=cast(SearchParamType, kind),
        expression=expression if isinstance(expression, str) else None,
        target=tuple(t for t in resource.get("target") or () if isinstance(t, str)),
        component=tuple(
            SearchParameterComponent(str(c.get("definition", "")), str(c.get("expression", "")))
            for c in resource.get("component") or ()
            if isinstance(c, dict)
        ),
    )
