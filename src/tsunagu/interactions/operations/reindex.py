"""$reindex: load the custom SearchParameters the server holds and rebuild the search index.

Run after posting or changing SearchParameter resources. It runs synchronously; for large
databases prefer `tsunagu reindex`, which shows progress. Other worker processes pick up new
parameters when they restart.
"""

from __future__ import annotations

from typing import Any

from tsunagu.fhir.outcomes import bad_request
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.search import query as search_query
from tsunagu.search.custom import parameter_from_resource
from tsunagu.search.definitions_check import check_parameter

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "tsunagu-reindex",
    "url": "urn:tsunagu:OperationDefinition/reindex",
    "name": "reindex",
    "status": "active",
    "kind": "operation",
    "code": "reindex",
    "system": True,
    "type": False,
    "instance": False,
    "parameter": [
        {"name": "count", "use": "out", "min": 1, "max": "1", "type": "integer"},
    ],
}
MAX_CUSTOM = 1000


def load_custom_parameters(ctx: Context) -> int:
    """Make the registry use every active SearchParameter resource; returns how many."""
    query = search_query.parse(ctx.registry, ["SearchParameter"], [("status", "active")])
    query = search_query.SearchQuery(query.resource_types, query.criteria, count=MAX_CUSTOM)
    custom = []
    for match in ctx.repository.search(query):
        content = match.resource.content or {}
        try:
            definition = parameter_from_resource(content)
            check_parameter(definition, ctx.definitions)
        except ValueError as error:
            raise bad_request(
                f"SearchParameter/{match.resource.id} は使えません: {error} / "
                f"SearchParameter/{match.resource.id} cannot be used: {error}"
            ) from None
        custom.append(definition)
    ctx.registry.set_custom(custom)
    return len(custom)


def reindex(ctx: Context, req: FhirRequest) -> FhirResponse:
    """POST /$reindex."""
    load_custom_parameters(ctx)
    count = ctx.repository.reindex()
    return FhirResponse(
        200,
        {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": count}]},
    )
