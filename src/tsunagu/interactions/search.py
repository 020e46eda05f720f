"""Type-level search, for now by `_id` and `identifier` (the search engine extends it).

Parameters the server does not support are ignored and reported in an OperationOutcome entry,
or refused with 400 under `Prefer: handling=strict`, as the spec says.
See: https://hl7.org/fhir/R4/search.html#errors
"""

from __future__ import annotations

from typing import Any

from tsunagu.fhir.bundles import bundle
from tsunagu.fhir.outcomes import Issue, bad_request, operation_outcome
from tsunagu.interactions import conditional
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.paging import CURSOR, page_size, page_url
from tsunagu.interactions.shaping import check_shaping, shape

# Result parameters and formatting that every search accepts.
CONTROL = frozenset({"_count", "_format", "_pretty", "_summary", "_elements", CURSOR})


def search(ctx: Context, req: FhirRequest, resource_type: str) -> FhirResponse:
    """A searchset Bundle of the matches, ordered by id, paged with a keyset cursor."""
    check_shaping(req, allow_count=True)
    criteria = tuple((k, v) for k, v in req.query if k not in CONTROL)
    supported = tuple((k, v) for k, v in criteria if k in conditional.SUPPORTED)
    ignored = sorted({k for k, _ in criteria if k not in conditional.SUPPORTED})
    if ignored and req.prefer("handling") == "strict":
        raise bad_request(
            f"対応していない検索パラメータです: {', '.join(ignored)} / "
            f"unsupported search parameters: {', '.join(ignored)}",
            code="not-supported",
        )
    ids, identifiers = (
        conditional.parse_criteria(resource_type, supported) if supported else ([], [])
    )
    source = ctx.session or ctx.repository
    if req.param("_summary") == "count":
        matches = source.find(resource_type, ids=ids, identifiers=identifiers)
        return FhirResponse(200, bundle("searchset", [], total=len(matches)))
    count = page_size(req)
    found = source.find(
        resource_type,
        ids=ids,
        identifiers=identifiers,
        after=req.param(CURSOR),
        limit=count + 1,
    )
    links = [("self", page_url(ctx.base_url, req))]
    if len(found) > count:
        found = found[:count]
        links.append(("next", page_url(ctx.base_url, req, **{CURSOR: found[-1].id})))
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": ctx.url(f"{s.resource_type}/{s.id}"),
            "resource": shape(s.content or {}, req, ctx.definitions),
            "search": {"mode": "match"},
        }
        for s in found
    ]
    if ignored:
        entries.append(
            {
                "resource": operation_outcome(
                    [
                        Issue(
                            "not-supported",
                            f"検索パラメータ {', '.join(ignored)} は無視されました / "
                            f"search parameters ignored: {', '.join(ignored)}",
                            severity="warning",
                        )
                    ]
                ),
                "search": {"mode": "outcome"},
            }
        )
    return FhirResponse(200, bundle("searchset", entries, links=links))
