"""The CapabilityStatement: generated from the route table, so it lists exactly what is served.

See: https://hl7.org/fhir/R4/capabilitystatement.html
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import tsunagu
from tsunagu.interactions import conditional
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse

# Route shapes at type level -> the interaction codes they implement.
_TYPE_INTERACTIONS = {
    ("GET", "T/I"): "read",
    ("GET", "T/I/_history/V"): "vread",
    ("PUT", "T/I"): "update",
    ("PATCH", "T/I"): "patch",
    ("DELETE", "T/I"): "delete",
    ("GET", "T/I/_history"): "history-instance",
    ("GET", "T/_history"): "history-type",
    ("POST", "T"): "create",
    ("GET", "T"): "search-type",
}
_SYSTEM_INTERACTIONS = {
    ("POST", ""): ("transaction", "batch"),
    ("GET", "_history"): ("history-system",),
}
_SEARCH_PARAMS = [
    {
        "name": "_id",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-id",
        "type": "token",
    },
    {
        "name": "identifier",
        "type": "token",
        "documentation": "The resource's top-level identifier (system|value)",
    },
]


def capability_statement(ctx: Context, req: FhirRequest) -> FhirResponse:
    """GET /metadata."""
    from tsunagu.interactions.router import route_table

    routes = set(route_table())
    interactions = [{"code": code} for key, code in _TYPE_INTERACTIONS.items() if key in routes]
    resources: list[dict[str, Any]] = [
        {
            "type": resource_type,
            "interaction": interactions,
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "searchParam": _SEARCH_PARAMS,
        }
        for resource_type in sorted(ctx.definitions.resource_types)
    ]
    system = [
        {"code": code}
        for key, codes in _SYSTEM_INTERACTIONS.items()
        if key in routes
        for code in codes
    ]
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "Tsunagu",
        "kind": "instance",
        "software": {"name": "Tsunagu", "version": tsunagu.__version__},
        "implementation": {
            "description": "Tsunagu FHIR R4 サーバ / Tsunagu FHIR R4 server",
            "url": ctx.base_url,
        },
        "fhirVersion": ctx.definitions.fhir_version,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "条件付き操作の検索条件: "
                    + ", ".join(conditional.SUPPORTED)
                    + " / criteria of conditional interactions: "
                    + ", ".join(conditional.SUPPORTED)
                ),
                "resource": resources,
                "interaction": system,
            }
        ],
    }
    return FhirResponse(200, statement)
