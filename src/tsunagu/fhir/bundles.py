"""Bundle builders: searchset, history, batch-response and transaction-response.

See: https://hl7.org/fhir/R4/bundle.html
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tsunagu.fhir.datatypes import format_instant
from tsunagu.fhir.resources import new_id


def bundle(
    kind: str,
    entries: Iterable[dict[str, Any]],
    *,
    total: int | None = None,
    links: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """A Bundle of the given type; `links` are (relation, url) pairs."""
    result: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": {"lastUpdated": format_instant(datetime.now(UTC))},
        "type": kind,
    }
    if total is not None:
        result["total"] = total
    link_list = [{"relation": rel, "url": url} for rel, url in links]
    if link_list:
        result["link"] = link_list
    result["entry"] = list(entries)
    if not result["entry"]:
        del result["entry"]
    return result


def response_entry(
    status: int,
    *,
    resource: dict[str, Any] | None = None,
    location: str | None = None,
    etag: str | None = None,
    last_modified: datetime | None = None,
    outcome: dict[str, Any] | None = None,
    full_url: str | None = None,
) -> dict[str, Any]:
    """One entry of a batch-response or transaction-response Bundle."""
    response: dict[str, Any] = {"status": _status_line(status)}
    if location:
        response["location"] = location
    if etag:
        response["etag"] = etag
    if last_modified:
        response["lastModified"] = format_instant(last_modified)
    if outcome is not None:
        response["outcome"] = outcome
    entry: dict[str, Any] = {}
    if full_url:
        entry["fullUrl"] = full_url
    if resource is not None:
        entry["resource"] = resource
    entry["response"] = response
    return entry


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def _status_line(status: int) -> str:
    reason = _REASONS.get(status)
    return f"{status} {reason}" if reason else str(status)
