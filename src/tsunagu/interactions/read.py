"""read and vread. See: https://hl7.org/fhir/R4/http.html#read"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from tsunagu.fhir.outcomes import bad_request, gone, not_found
from tsunagu.fhir.resources import is_valid_id
from tsunagu.interactions import access
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse, version_headers
from tsunagu.interactions.shaping import check_shaping, shape
from tsunagu.storage.repository import StoredResource


def read(ctx: Context, req: FhirRequest, resource_type: str, id: str) -> FhirResponse:
    """The current version; 410 when deleted, 304 when the client's copy is current."""
    check_shaping(req)
    require_id(id)
    source = ctx.session or ctx.repository
    stored = source.read(resource_type, id)
    stored = access.require_visible(ctx, stored, f"{resource_type}/{id}")
    if not_modified(req, stored):
        return FhirResponse(304, headers=version_headers(stored, ctx.base_url), stored=stored)
    return _respond(ctx, req, stored)


def vread(ctx: Context, req: FhirRequest, resource_type: str, id: str, vid: str) -> FhirResponse:
    """One version of a resource."""
    check_shaping(req)
    require_id(id)
    if not vid.isdigit():
        raise bad_request(
            f"バージョン '{vid}' は不正です / version id '{vid}' is not a version of this server"
        )
    stored = ctx.repository.vread(resource_type, id, int(vid))
    if stored is None or not access.visible(ctx, stored):
        raise not_found(
            f"{resource_type}/{id} のバージョン {vid} は存在しません / "
            f"version {vid} of {resource_type}/{id} is not known"
        )
    return _respond(ctx, req, stored)


def _respond(ctx: Context, req: FhirRequest, stored: StoredResource) -> FhirResponse:
    headers = version_headers(stored, ctx.base_url)
    if stored.content is None:
        error = gone(
            f"{stored.resource_type}/{stored.id} は削除されています / "
            f"resource {stored.resource_type}/{stored.id} has been deleted"
        )
        error.headers.update(headers)
        raise error
    body = shape(stored.content, req, ctx.definitions)
    return FhirResponse(200, body, headers, stored=stored)


def require_id(id: str) -> None:
    if not is_valid_id(id):
        raise bad_request(
            f"'{id[:70]}' は FHIR の id として不正です / '{id[:70]}' is not a valid FHIR id"
        )


def not_modified(req: FhirRequest, stored: StoredResource) -> bool:
    """If-None-Match / If-Modified-Since say the client already has this version."""
    if_none_match = req.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip() for tag in if_none_match.split(",")}
        return "*" in tags or f'W/"{stored.version}"' in tags or f'"{stored.version}"' in tags
    since = req.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        client_time = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False  # an unparsable date is ignored, as RFC 9110 says
    return stored.last_updated.replace(microsecond=0) <= client_time
