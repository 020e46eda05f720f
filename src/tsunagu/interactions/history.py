"""history at instance, type and system level. See: https://hl7.org/fhir/R4/http.html#history"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from tsunagu.fhir.bundles import bundle
from tsunagu.fhir.datatypes import format_instant, parse_instant, parse_period
from tsunagu.fhir.outcomes import bad_request
from tsunagu.interactions import access
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.paging import CURSOR, page_size, page_url
from tsunagu.interactions.read import require_id
from tsunagu.interactions.shaping import check_shaping, shaper, shown
from tsunagu.storage.repository import HistoryEntry, HistoryQuery

MAX_SCANNED = 10_000
_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


def history(
    ctx: Context, req: FhirRequest, resource_type: str | None = None, id: str | None = None
) -> FhirResponse:
    """Versions newest first, paged by `_count` with a keyset cursor in the `next` link."""
    check_shaping(req)
    if id is not None:
        assert resource_type is not None
        require_id(id)
        access.require_visible(ctx, ctx.repository.read(resource_type, id), f"{resource_type}/{id}")
    count = page_size(req)
    query = HistoryQuery(
        resource_type=resource_type,
        id=id,
        since=_instant(req, "_since"),
        before=_cursor(req),
        count=count + 1,  # one more than asked tells whether there is a next page
        **_at(req),
    )
    entries = _visible(ctx, query) if count else []
    links = [("self", page_url(ctx.base_url, req))]
    if len(entries) > count:
        entries = entries[:count]
        links.append(("next", page_url(ctx.base_url, req, **{CURSOR: str(entries[-1].seq)})))
    body = bundle("history", (_entry(ctx, req, e) for e in entries), links=links)
    return FhirResponse(200, body)


def _visible(ctx: Context, query: HistoryQuery) -> list[HistoryEntry]:
    """Up to `query.count` versions the caller may see, newest first.

    Visibility is decided per version (its own content), so pages are filled by reading on
    past hidden versions, up to MAX_SCANNED of them per page."""
    if access.current(ctx) is None:
        return ctx.repository.history(query)
    found: list[HistoryEntry] = []
    scanned = 0
    while len(found) < query.count and scanned < MAX_SCANNED:
        batch = ctx.repository.history(query)
        found += [e for e in batch if access.visible(ctx, e.resource)]
        scanned += len(batch)
        if len(batch) < query.count:
            break
        query = replace(query, before=batch[-1].seq)
    return found[: query.count]


def _entry(ctx: Context, req: FhirRequest, entry: HistoryEntry) -> dict[str, Any]:
    stored = entry.resource
    url = f"{stored.resource_type}/{stored.id}"
    method = stored.method
    result: dict[str, Any] = {"fullUrl": ctx.url(url)}
    if not stored.deleted:
        result["resource"] = shown(shaper(req, ctx.definitions), stored)
    status = _STATUS[method]
    if method == "PUT" and stored.version == 1:
        status = "201 Created"
    result["request"] = {"method": method, "url": stored.resource_type if method == "POST" else url}
    result["response"] = {
        "status": status,
        "etag": f'W/"{stored.version}"',
        "lastModified": format_instant(stored.last_updated),
    }
    return result


def _instant(req: FhirRequest, name: str) -> Any:
    raw = req.param(name)
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise bad_request(
            f"{name} の値 '{raw[:40]}' は日時 (instant) ではありません / "
            f"{name} must be an instant such as 2024-04-01T09:00:00+09:00, got '{raw[:40]}'",
            expression=(name,),
        ) from None


def _at(req: FhirRequest) -> dict[str, Any]:
    raw = req.param("_at")
    if raw is None:
        return {}
    try:
        period = parse_period(raw)
    except ValueError:
        raise bad_request(
            f"_at の値 '{raw[:40]}' は日付ではありません / _at must be a date or dateTime, "
            f"got '{raw[:40]}'",
            expression=("_at",),
        ) from None
    # Versions that were current at some moment of the period.
    return {
        "at_start": period.start,
        "at_end": max(period.end, period.start + timedelta(microseconds=1)),
    }


def _cursor(req: FhirRequest) -> int | None:
    raw = req.param(CURSOR)
    if raw is None:
        return None
    if not raw.isdigit():
        raise bad_request(f"{CURSOR} が不正です / invalid paging cursor", expression=(CURSOR,))
    return int(raw)
