"""Search criteria of conditional interactions (`If-None-Exist`, `PUT Patient?...`).

The criteria are an ordinary search; every parameter must be known, because ignoring one
would make a conditional write act on the wrong resource.
See: https://hl7.org/fhir/R4/http.html#ccreate
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from tsunagu.fhir.outcomes import FhirError, bad_request, precondition_failed
from tsunagu.interactions import access
from tsunagu.interactions.context import Context
from tsunagu.search import query as search_query
from tsunagu.storage.repository import StoredResource, WriteSession

# Enough to tell "none", "one" and "several" apart.
_LIMIT = 2
_IGNORED = ("_format", "_pretty", "_summary", "_elements", "_count", "_cursor")


def match(
    ctx: Context,
    session: WriteSession,
    resource_type: str,
    criteria: str | tuple[tuple[str, str], ...],
) -> list[StoredResource]:
    """Up to two current resources matching the criteria, under a lock on the criteria.

    The lock makes two concurrent conditional creates with the same criteria run one after
    the other, so the second sees the first's resource instead of creating a duplicate.
    """
    pairs = parse_qsl(criteria, keep_blank_values=True) if isinstance(criteria, str) else criteria
    pairs = [(k, v) for k, v in pairs if k not in _IGNORED]
    if not pairs:
        raise bad_request(
            "条件付き操作に検索条件がありません / a conditional interaction needs search criteria"
        )
    query = search_query.parse(ctx.registry, [resource_type], pairs)
    if query.ignored:
        raise bad_request(
            f"条件付き操作の検索パラメータ {', '.join(query.ignored)} は不明です / "
            f"unknown search parameters in conditional criteria: {', '.join(query.ignored)}",
            code="not-supported",
        )
    key = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    session.lock(f"criteria:{resource_type}?{key}")
    query = search_query.SearchQuery(
        resource_types=query.resource_types, criteria=query.criteria, count=_LIMIT
    )
    query = access.filter_query(ctx, query)  # a hidden resource never matches
    return [m.resource for m in session.search(query)][:_LIMIT]


def several(resource_type: str) -> FhirError:
    return precondition_failed(
        f"条件に一致する {resource_type} が複数あり、一つに特定できません / "
        f"the criteria match more than one {resource_type}; they must match at most one"
    )
