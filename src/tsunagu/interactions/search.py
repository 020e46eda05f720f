"""Search at type, system and compartment level, with includes and cursor paging.

Parameters the server does not know are ignored and reported in an OperationOutcome entry,
or refused with 400 under `Prefer: handling=strict`, as the spec says.
See: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tsunagu.fhir.bundles import bundle
from tsunagu.fhir.outcomes import Issue, bad_request, not_found, operation_outcome
from tsunagu.interactions import access
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.paging import page_url
from tsunagu.interactions.read import require_id
from tsunagu.interactions.shaping import Shaper, check_shaping, shaper, shown
from tsunagu.search import query as search_query
from tsunagu.search.plan import Cursor
from tsunagu.search.query import Compartment, SearchQuery
from tsunagu.storage.repository import Match

MAX_INCLUDE_ROUNDS = 4


def search_type(ctx: Context, req: FhirRequest, resource_type: str) -> FhirResponse:
    """GET /{type}?... and POST /{type}/_search."""
    return run(ctx, req, parse(ctx, req, [resource_type]))


def search_system(ctx: Context, req: FhirRequest) -> FhirResponse:
    """GET /?_type=A,B&...: a search across several types (parameters common to them)."""
    raw = req.param("_type")
    types = sorted({t for t in (raw or "").split(",") if t}) or sorted(
        ctx.definitions.resource_types
    )
    unknown = [t for t in types if t not in ctx.definitions.resource_types]
    if unknown:
        raise bad_request(
            f"_type の型 {', '.join(unknown)} は不明です / unknown _type {', '.join(unknown)}",
            expression=("_type",),
        )
    return run(ctx, req, parse(ctx, req, types))


def search_compartment(
    ctx: Context, req: FhirRequest, owner_type: str, owner_id: str, resource_type: str
) -> FhirResponse:
    """GET /Patient/123/Observation: a search limited to one compartment."""
    require_id(owner_id)
    params = ctx.definitions.compartment_params(owner_type, resource_type)
    if not params:
        raise bad_request(
            f"{resource_type} は {owner_type} コンパートメントに含まれません / "
            f"{resource_type} is not in the {owner_type} compartment",
        )
    query = parse(ctx, req, [resource_type])
    stored = ctx.registry.row_codes(resource_type, params, owner_type)
    compartment = Compartment(owner_type, owner_id, ((resource_type, stored),))
    return run(ctx, req, replace(query, compartment=compartment))


def parse(ctx: Context, req: FhirRequest, types: list[str]) -> SearchQuery:
    """The request's search, with references to this server's base made relative."""
    check_shaping(req, allow_count=True)
    base = ctx.base_url + "/"
    pairs = [(k, v.replace(base, "") if base in v else v) for k, v in req.query]
    query = search_query.parse(ctx.registry, types, pairs)
    if query.ignored and req.prefer("handling") == "strict":
        raise bad_request(
            f"不明または未対応の検索パラメータです: {', '.join(query.ignored)} / "
            f"unknown or unsupported search parameters: {', '.join(query.ignored)}",
            code="not-supported",
            expression=query.ignored,
        )
    return query


def run(ctx: Context, req: FhirRequest, query: SearchQuery) -> FhirResponse:
    """Execute a parsed search and build the searchset Bundle."""
    query = access.filter_query(ctx, query)  # inside every SQL: matches, counts, pages
    if ctx.audit_trail is not None:  # the audit names the results' patients
        query = replace(query, patients=True)
    source = ctx.session or ctx.repository
    if req.param("_summary") == "count":
        count = ctx.repository.count_matches(query)
        self_link = [("self", page_url(ctx.base_url, req))]
        return FhirResponse(200, bundle("searchset", [], total=count, links=self_link))
    cursor = Cursor.decode(query.cursor) if query.cursor else None
    fetched = source.search(query, cursor) if query.count else []
    more = len(fetched) > query.count
    page = fetched[: query.count]
    backwards = cursor is not None and cursor.backwards
    if backwards:
        page.reverse()
    links = [("self", page_url(ctx.base_url, req))]
    if page and (backwards or more):
        links.append(("next", _link(ctx, req, query, page[-1], backwards=False)))
    if page and cursor is not None and (more or not backwards):
        links.append(("previous", _link(ctx, req, query, page[0], backwards=True)))
    shaped = shaper(req, ctx.definitions)
    included = _included(ctx, query, page)
    entries = [_entry(ctx, shaped, m, "match") for m in page]
    entries += [_entry(ctx, shaped, m, "include") for m in included]
    if query.ignored:
        entries.append(_ignored(query.ignored))
    total = _total(ctx, query, cursor, len(page), more)
    patients = {
        f"{m.resource.resource_type}/{m.resource.id}": m.patients
        for m in (*page, *included)
        if m.patients is not None
    }
    return FhirResponse(
        200, bundle("searchset", entries, total=total, links=links), patients=patients
    )


def _total(
    ctx: Context, query: SearchQuery, cursor: Cursor | None, size: int, more: bool
) -> int | None:
    if query.total in ("accurate", "estimate"):
        return ctx.repository.count_matches(query)
    if query.total == "none" and cursor is None and not more and query.count > 0:
        return size  # the whole result is on this page: the total costs nothing
    return None


def _included(ctx: Context, query: SearchQuery, page: list[Match]) -> list[Match]:
    """Resources added by _include/_revinclude (with :iterate), each once, not matches."""
    if not query.includes or not page:
        return []
    seen = {m.key for m in page}
    added: list[Match] = []
    frontier = page
    for round_number in range(MAX_INCLUDE_ROUNDS):
        new: list[Match] = []
        for include in query.includes:
            if round_number > 0 and not include.iterate:
                continue
            for match in ctx.repository.include(frontier, include, access.access_filter(ctx)):
                if match.key not in seen:
                    seen.add(match.key)
                    new.append(match)
        if not new:
            break
        added.extend(new)
        frontier = new
    return added


def _entry(ctx: Context, shaped: Shaper, match: Match, mode: str) -> dict[str, Any]:
    stored = match.resource
    return {
        "fullUrl": ctx.url(f"{stored.resource_type}/{stored.id}"),
        "resource": shown(shaped, stored),
        "search": {"mode": mode},
    }


def _ignored(names: tuple[str, ...]) -> dict[str, Any]:
    issue = Issue(
        "not-supported",
        f"不明または未対応の検索パラメータを無視しました: {', '.join(names)} / "
        f"unknown or unsupported search parameters were ignored: {', '.join(names)}",
        severity="warning",
        expression=names,
    )
    return {"resource": operation_outcome([issue]), "search": {"mode": "outcome"}}


def _link(
    ctx: Context, req: FhirRequest, query: SearchQuery, match: Match, *, backwards: bool
) -> str:
    cursor = Cursor(match.sort_values, match.key, backwards)
    return page_url(ctx.base_url, req, _cursor=cursor.encode())


def owner_exists(ctx: Context, owner_type: str, owner_id: str) -> None:
    stored = ctx.repository.read(owner_type, owner_id)
    if stored is None or stored.deleted or not access.visible(ctx, stored, current_version=True):
        raise not_found(
            f"{owner_type}/{owner_id} は存在しません / "
            f"resource {owner_type}/{owner_id} is not known"
        )
