"""batch and transaction Bundles. See: https://hl7.org/fhir/R4/http.html#transaction

A transaction runs every entry in one database transaction, in the spec's order (DELETE,
POST, PUT/PATCH, then GET/HEAD), after replacing `urn:uuid:` placeholders and conditional
references with real ids; any failure rolls everything back. A batch runs each entry on its
own and reports each outcome. Both re-enter the same handlers HTTP uses (`router.dispatch`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tsunagu.fhir import jsonio
from tsunagu.fhir.bundles import bundle, response_entry
from tsunagu.fhir.outcomes import FhirError, Issue, bad_request, not_found, operation_outcome
from tsunagu.fhir.references import is_conditional_reference, placeholder_replacer, rewrite
from tsunagu.fhir.resources import new_id
from tsunagu.interactions import conditional
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.operations import validate

Dispatch = Callable[[Context, FhirRequest], FhirResponse]
log = logging.getLogger(__name__)

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_ENTRY_HEADERS = {
    "ifMatch": "if-match",
    "ifNoneMatch": "if-none-match",
    "ifNoneExist": "if-none-exist",
    "ifModifiedSince": "if-modified-since",
}


@dataclass
class Entry:
    """One Bundle entry as an interaction request."""

    index: int
    full_url: str | None
    request: FhirRequest

    @property
    def resource_type(self) -> str:
        return self.request.path.split("/", 1)[0]


def process(ctx: Context, req: FhirRequest, dispatch: Dispatch) -> FhirResponse:
    """POST to the base URL: run a batch or transaction Bundle."""
    body = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise bad_request(
            "ベース URL への POST は Bundle (batch/transaction) のみです / "
            "a POST to the base URL takes a batch or transaction Bundle"
        )
    kind = body.get("type")
    if kind not in ("batch", "transaction"):
        raise bad_request(
            f"Bundle.type '{kind}' は処理できません (batch か transaction) / "
            f"Bundle.type must be 'batch' or 'transaction', got '{kind}'",
            expression=("Bundle.type",),
        )
    raw_entries = body.get("entry") or []
    if not isinstance(raw_entries, list):
        raise bad_request("Bundle.entry は配列です / Bundle.entry must be an array")
    prefer = req.headers.get("prefer", "")
    if kind == "batch":
        return _batch(ctx, raw_entries, prefer, dispatch)
    entries = [_parse_entry(ctx, i, raw, prefer) for i, raw in enumerate(raw_entries)]
    return _transaction(ctx, entries, dispatch)


# --- transaction ------------------------------------------------------------------------


def _transaction(ctx: Context, entries: list[Entry], dispatch: Dispatch) -> FhirResponse:
    _reject_duplicates(entries)
    results: dict[int, dict[str, Any]] = {}
    ordered = sorted(entries, key=lambda e: _ORDER[e.request.method])
    with ctx.writing() as session:  # the audit layer may have opened it (with its events)
        tctx = replace(ctx, session=session)
        placeholders: dict[str, str] = {}
        locators: dict[str, str] = {}
        try:
            for entry in (e for e in ordered if e.request.method == "DELETE"):
                results[entry.index] = _run(tctx, entry, dispatch)
            placeholders, locators, reserved = _resolve_targets(tctx, entries)
            for entry in (e for e in ordered if e.request.method != "DELETE"):
                entry.request = _with_resolved_references(tctx, entry, placeholders, locators)
                if entry.index in reserved:
                    results[entry.index] = _existing(tctx, entry, reserved[entry.index])
                else:
                    results[entry.index] = _run(tctx, entry, dispatch)
        except validate.ValidationFailed as error:
            # Report the invalid content of every entry at once (nothing is written).
            targets = placeholder_replacer(placeholders, locators)
            raise _with_other_entries(tctx, entries, results, error, targets) from None
    return FhirResponse(200, bundle("transaction-response", (results[e.index] for e in entries)))


def _with_other_entries(
    ctx: Context,
    entries: list[Entry],
    done: dict[int, Any],
    error: FhirError,
    targets: Callable[[str, str], str | None],
) -> FhirError:
    """`error` plus the validation issues of the create/update entries not yet run (their
    placeholders replaced as running them would; conditional references left as resolved)."""

    def resolved(key: str, value: str) -> str | None:
        if key == "reference" and is_conditional_reference(value):
            return f"{value.partition('?')[0]}/resolved-when-run"
        return targets(key, value)

    failed = {issue.expression[0] for issue in error.issues if issue.expression}
    issues = list(error.issues)
    for entry in entries:
        where = f"Bundle.entry[{entry.index}]"
        if entry.index in done or where in failed or entry.request.method not in ("POST", "PUT"):
            continue
        body = entry.request.body
        body = rewrite(body, resolved) if isinstance(body, dict) else body
        found = validate.body_issues(ctx, body, entry.resource_type)
        if validate.has_errors(found):
            issues.extend(_at(entry, FhirError(422, found)).issues)
    return validate.rejection(issues)


def _resolve_targets(
    ctx: Context, entries: list[Entry]
) -> tuple[dict[str, str], dict[str, str], dict[int, str]]:
    """Where each created or updated entry will live, before anything is written.

    Returns placeholder and locator mappings (see `placeholder_replacer`), and the POST
    entries whose If-None-Exist matched an existing resource (index -> id).
    """
    assert ctx.session is not None
    placeholders: dict[str, str] = {}
    locators: dict[str, str] = {}
    reserved: dict[int, str] = {}
    for entry in entries:
        req, rtype = entry.request, entry.resource_type
        if req.method == "POST":
            criteria = _criteria(req.headers.get("if-none-exist"), rtype)
            found = conditional.match(ctx, ctx.session, rtype, criteria) if criteria else []
            if len(found) > 1:
                raise _at(entry, conditional.several(rtype))
            if found:
                reserved[entry.index] = target = found[0].id
            else:
                target = new_id()
                headers = {k: v for k, v in req.headers.items() if k != "if-none-exist"}
                entry.request = replace(req, headers=headers, assigned_id=target)
        elif req.method == "PUT" and req.query:
            target = _conditional_put_target(ctx, entry)
        elif req.method == "PUT":
            target = req.path.split("/", 1)[1]
        else:
            continue
        located = f"{rtype}/{target}"
        full_url = entry.full_url
        if full_url and (full_url.startswith("urn:") or req.method == "POST"):
            # Links to an entry the server gives a new home: rewritten wherever they appear.
            placeholders[full_url] = located
            old = full_url.rstrip("/").rsplit("/", 2)
            if req.method == "POST" and len(old) == 3 and old[1] == rtype:
                # `Type/oldId` resolves against the entry's absolute fullUrl
                # (https://hl7.org/fhir/R4/bundle.html#references).
                locators[f"{rtype}/{old[2]}"] = located
    return placeholders, locators, reserved


def _criteria(raw: str | None, resource_type: str) -> str | None:
    """If-None-Exist as a query string (tolerating a leading `?` or `Type?`)."""
    if not raw:
        return None
    return raw.removeprefix(f"{resource_type}?").lstrip("?")


def _conditional_put_target(ctx: Context, entry: Entry) -> str:
    """Resolve a conditional update to an id now, so other entries can refer to it."""
    assert ctx.session is not None
    req, rtype = entry.request, entry.resource_type
    found = conditional.match(ctx, ctx.session, rtype, req.query)
    if len(found) > 1:
        raise _at(entry, conditional.several(rtype))
    body_id = req.body.get("id") if isinstance(req.body, dict) else None
    if found and body_id not in (None, found[0].id):
        raise _at(
            entry,
            bad_request(
                f"本文の id が条件に一致したリソース ({rtype}/{found[0].id}) と異なります / "
                f"the body's id differs from the matching resource {rtype}/{found[0].id}"
            ),
        )
    target = found[0].id if found else (body_id if isinstance(body_id, str) else new_id())
    body = {**req.body, "id": target} if isinstance(req.body, dict) else req.body
    entry.request = replace(req, path=f"{rtype}/{target}", query=(), body=body)
    return target


def _with_resolved_references(
    ctx: Context, entry: Entry, placeholders: dict[str, str], locators: dict[str, str]
) -> FhirRequest:
    req = entry.request
    if not isinstance(req.body, dict):
        return req
    placeholder = placeholder_replacer(placeholders, locators)

    def replace_value(key: str, value: str) -> str | None:
        if key == "reference" and is_conditional_reference(value):
            return _resolve_conditional_reference(ctx, entry, value)
        return placeholder(key, value)

    return replace(req, body=rewrite(req.body, replace_value))


def _resolve_conditional_reference(ctx: Context, entry: Entry, value: str) -> str:
    assert ctx.session is not None
    rtype, _, query = value.partition("?")
    if rtype not in ctx.definitions.resource_types:
        raise _at(
            entry, bad_request(f"参照先の型 '{rtype}' は不明です / unknown type in '{value}'")
        )
    found = conditional.match(ctx, ctx.session, rtype, query)
    if len(found) != 1:
        error = (
            not_found(
                f"条件付き参照 {value} に一致するリソースがありません / "
                f"no resource matches the conditional reference {value}"
            )
            if not found
            else conditional.several(rtype)
        )
        raise _at(entry, error)
    return f"{rtype}/{found[0].id}"


def _existing(ctx: Context, entry: Entry, id: str) -> dict[str, Any]:
    """The response to a conditional create that matched an existing resource."""
    assert ctx.session is not None
    stored = ctx.session.read(entry.resource_type, id)
    assert stored is not None
    return response_entry(
        200,
        location=ctx.url(f"{stored.resource_type}/{stored.id}/_history/{stored.version}"),
        etag=f'W/"{stored.version}"',
        last_modified=stored.last_updated,
        full_url=ctx.url(f"{stored.resource_type}/{stored.id}"),
    )


def _reject_duplicates(entries: list[Entry]) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        req = entry.request
        if req.method in ("PUT", "PATCH", "DELETE") and "?" not in req.path and "/" in req.path:
            if req.path in seen:
                raise bad_request(
                    f"Bundle.entry[{seen[req.path]}] と Bundle.entry[{entry.index}] が同じリソース "
                    f"{req.path} を変更します / two entries change the same resource {req.path}",
                    expression=(f"Bundle.entry[{entry.index}]",),
                )
            seen[req.path] = entry.index


def _run(ctx: Context, entry: Entry, dispatch: Dispatch) -> dict[str, Any]:
    try:
        response = dispatch(ctx, entry.request)
    except FhirError as error:
        raise _at(entry, error) from None
    return _response_entry(ctx, entry, response)


def _at(entry: Entry, error: FhirError) -> FhirError:
    """The error, with every issue located at the entry that caused it."""
    where = f"Bundle.entry[{entry.index}]"
    issues = [
        Issue(i.code, f"{where}: {i.message}", i.severity, (where, *i.expression))
        for i in error.issues
    ]
    return type(error)(error.status, issues)  # keeps the kind (e.g. a validation failure)


# --- batch ----------------------------------------------------------------------------


def _batch(ctx: Context, raw_entries: list[Any], prefer: str, dispatch: Dispatch) -> FhirResponse:
    results = []
    for index, raw in enumerate(raw_entries):
        try:
            entry = _parse_entry(ctx, index, raw, prefer)
            results.append(_response_entry(ctx, entry, dispatch(ctx, entry.request)))
        except FhirError as error:
            results.append(response_entry(error.status, outcome=error.outcome()))
        except Exception:
            log.exception("batch entry %d failed unexpectedly", index)
            outcome = operation_outcome(
                [Issue("exception", "内部エラーが発生しました / internal server error")]
            )
            results.append(response_entry(500, outcome=outcome))
    return FhirResponse(200, bundle("batch-response", results))


# --- entries ----------------------------------------------------------------------------


def _parse_entry(ctx: Context, index: int, raw: Any, prefer: str) -> Entry:
    where = f"Bundle.entry[{index}]"

    def invalid(message: str) -> FhirError:
        return bad_request(f"{where}: {message}", expression=(where,))

    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise invalid("request がありません / the entry has no request")
    request = raw["request"]
    method = request.get("method")
    if method not in _ORDER:
        raise invalid(f"request.method '{method}' は不正です / invalid request.method '{method}'")
    url = request.get("url")
    if not isinstance(url, str) or not url:
        raise invalid("request.url がありません / the entry has no request.url")
    path, query = _relative(ctx, url)
    if not path or path.startswith("$") or (path == "metadata" and method != "GET"):
        raise invalid(f"request.url '{url}' は処理できません / cannot process request.url '{url}'")
    headers = {_ENTRY_HEADERS[k]: str(v) for k, v in request.items() if k in _ENTRY_HEADERS}
    if prefer:
        headers["prefer"] = prefer
    body = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(body, dict):
        raise invalid("resource がありません / the entry has no resource")
    if method == "PATCH":
        body = _patch_body(body, invalid)
    full_url = raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None
    return Entry(index, full_url, FhirRequest(method, path, query, headers, body))


def _relative(ctx: Context, url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    if url.startswith(ctx.base_url + "/"):
        url = url[len(ctx.base_url) + 1 :]
    parts = urlsplit(url)
    return parts.path.strip("/"), tuple(parse_qsl(parts.query, keep_blank_values=True))


def _patch_body(resource: Any, invalid: Callable[[str], FhirError]) -> Any:
    """A JSON Patch carried in a Binary resource (the spec's way for Bundle entries)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise invalid(
            "PATCH の resource は JSON Patch を含む Binary です / "
            "a PATCH entry carries its JSON Patch in a Binary resource"
        )
    if resource.get("contentType") != "application/json-patch+json":
        raise invalid(
            "Binary.contentType は application/json-patch+json です / "
            "Binary.contentType must be application/json-patch+json"
        )
    try:
        return jsonio.loads(base64.b64decode(resource.get("data", ""), validate=True))
    except (binascii.Error, TypeError, ValueError):
        raise invalid(
            "Binary.data が JSON Patch ではありません / Binary.data is not a JSON Patch"
        ) from None


def _response_entry(ctx: Context, entry: Entry, response: FhirResponse) -> dict[str, Any]:
    stored = response.stored
    req = entry.request
    resource, outcome = response.resource, None
    if req.method in ("POST", "PUT", "PATCH", "DELETE") and stored is not None:
        # Write entries carry a body only when `Prefer: return=` asked for one.
        choice = req.prefer("return")
        if choice == "OperationOutcome":
            resource, outcome = None, resource
        elif choice != "representation":
            resource = None
    return response_entry(
        response.status,
        resource=resource,
        outcome=outcome,
        location=response.headers.get("location"),
        etag=response.headers.get("etag"),
        last_modified=stored.last_updated if stored else None,
        full_url=ctx.url(f"{stored.resource_type}/{stored.id}") if stored else None,
    )
