"""Patient/$everything: a patient and every resource in their compartment, paged.

Parameters: `_since` (only resources updated since), `_type` (only these types), `_count`
(page size; pages continue through `next` links). `start`/`end` (clinical dates) are not
supported yet and are refused rather than ignored.
See: https://hl7.org/fhir/R4/patient-operation-everything.html
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tsunagu.fhir.outcomes import FhirError, bad_request
from tsunagu.interactions import access
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.search import owner_exists, run
from tsunagu.search import query as search_query
from tsunagu.search.query import Compartment, SearchQuery

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "Patient-everything",
    "url": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    "name": "everything",
    "status": "active",
    "kind": "operation",
    "code": "everything",
    "resource": ["Patient"],
    "system": False,
    "type": False,
    "instance": True,
    "parameter": [
        {"name": "_since", "use": "in", "min": 0, "max": "1", "type": "instant"},
        {"name": "_type", "use": "in", "min": 0, "max": "*", "type": "code"},
        {"name": "_count", "use": "in", "min": 0, "max": "1", "type": "integer"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle"},
    ],
}


def everything(ctx: Context, req: FhirRequest, resource_type: str, id: str) -> FhirResponse:
    """The patient's record: the Patient first, then the compartment, paged by key.

    Without access control and outside a transaction, the page's own statement checks that
    the owner exists (a page with matches proves it), so a page costs one query; only an
    empty page or a refused request reads the owner again, so that a missing owner is still
    a 404 before anything else.
    """
    folded = (
        access.access_filter(ctx) is None
        and ctx.session is None
        and req.param("_summary") != "count"
    )
    if not folded:
        owner_exists(ctx, resource_type, id)
        return run(ctx, req, _query(ctx, req, resource_type, id, owner_checked=False))
    try:
        response = run(ctx, req, _query(ctx, req, resource_type, id, owner_checked=True))
    except FhirError:
        owner_exists(ctx, resource_type, id)
        raise
    if not _has_matches(response):
        owner_exists(ctx, resource_type, id)
    return response


def _query(
    ctx: Context, req: FhirRequest, resource_type: str, id: str, *, owner_checked: bool
) -> SearchQuery:
    for name in ("start", "end"):
        if req.param(name) is not None:
            raise bad_request(
                f"$everything の {name} には未対応です / $everything does not support '{name}' yet",
                code="not-supported",
            )
    members = ctx.definitions.compartments.get(resource_type, {})
    # The audit trail is in the compartment but is not the patient's record: it has its own
    # view (AuditEvent?patient=), and including it would grow with every $everything call.
    types = sorted(
        {t for t, params in members.items() if params and t != "AuditEvent"} | {resource_type}
    )
    wanted = req.param("_type")
    if wanted:
        types = sorted({t for t in wanted.split(",") if t} & set(types))
        if not types:
            raise bad_request(
                f"_type '{wanted[:80]}' に {resource_type} コンパートメントの型がありません / "
                f"_type names no type of the {resource_type} compartment",
                expression=("_type",),
            )
    params = ctx.registry.compartment_rows(resource_type, tuple(types))
    pairs: list[tuple[str, str]] = [(k, v) for k, v in req.query if k in ("_count", "_cursor")]
    since = req.param("_since")
    if since is not None:
        pairs.append(("_lastUpdated", f"ge{since}"))
    query = search_query.parse(ctx.registry, types, pairs)
    compartment = Compartment(
        resource_type,
        id,
        params,
        include_owner=resource_type in types,
        owner_checked=owner_checked,
    )
    return replace(query, compartment=compartment)


def _has_matches(response: FhirResponse) -> bool:
    bundle = response.resource or {}
    return any(entry.get("search", {}).get("mode") == "match" for entry in bundle.get("entry", ()))
