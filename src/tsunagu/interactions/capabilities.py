"""The CapabilityStatement: generated from the route table and the search registry, so it
lists exactly what is served.

See: https://hl7.org/fhir/R4/capabilitystatement.html
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import tsunagu
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.search.parameters import IndexedParam
from tsunagu.security.tokens import issuer_for

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
    ("GET", ""): ("search-system",),
}
_COMMON = [
    {
        "name": "_id",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-id",
        "type": "token",
    },
    {
        "name": "_lastUpdated",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        "type": "date",
    },
]


def _security(base_url: str) -> dict[str, Any]:
    """rest.security: SMART-on-FHIR OAuth, with the oauth-uris extension."""
    issuer = issuer_for(base_url)
    uris = {"token": f"{issuer}/token", "authorize": f"{issuer}/authorize"}
    return {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 / SMART on FHIR (Backend Services, App Launch + PKCE)",
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": key, "valueUri": uri} for key, uri in uris.items()],
            }
        ],
        "description": "アクセストークン (Bearer JWT) が必要です / Bearer access token required",
    }


def _search_param(param: IndexedParam) -> dict[str, Any]:
    entry = {"name": param.code, "definition": param.definition.url, "type": param.type}
    if param.documentation:
        entry["documentation"] = param.documentation
    return entry


def capability_statement(ctx: Context, req: FhirRequest) -> FhirResponse:
    """GET /metadata."""
    from tsunagu.interactions.router import OPERATIONS, route_table

    routes = set(route_table())
    interactions = [{"code": code} for key, code in _TYPE_INTERACTIONS.items() if key in routes]
    includes: dict[str, list[str]] = {}
    resources: list[dict[str, Any]] = []
    for resource_type in sorted(ctx.definitions.resource_types):
        params = ctx.registry.for_type(resource_type)
        references = sorted(p.code for p in params.values() if p.type == "reference")
        includes[resource_type] = [f"{resource_type}:{code}" for code in references]
        entry: dict[str, Any] = {
            "type": resource_type,
            "interaction": interactions,
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "searchInclude": ["*", *includes[resource_type]],
            "searchParam": _COMMON
            + [_search_param(p) for p in params.values() if p.code not in ("_id", "_lastUpdated")],
        }
        operations = [
            {"name": op["code"], "definition": op["url"]}
            for op in OPERATIONS
            if resource_type in op.get("resource", ())
        ]
        if operations:
            entry["operation"] = operations
        resources.append(entry)
    for entry in resources:
        entry["searchRevInclude"] = sorted(
            f"{source}:{p.code}"
            for source in ctx.definitions.resource_types
            for p in ctx.registry.for_type(source).values()
            if p.type == "reference" and entry["type"] in p.definition.target
        )
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
                "security": _security(ctx.base_url),
                "resource": resources,
                "interaction": system,
                "searchParam": _COMMON,
                "operation": [
                    {"name": op["code"], "definition": op["url"]}
                    for op in OPERATIONS
                    if op.get("system")
                ],
            }
        ],
    }
    return FhirResponse(200, statement)
