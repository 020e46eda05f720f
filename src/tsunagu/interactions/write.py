"""create, update, patch and delete, with their conditional forms and If-Match.

See: https://hl7.org/fhir/R4/http.html#create and #update, #patch, #delete, #concurrency
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from tsunagu.fhir.outcomes import (
    FhirError,
    bad_request,
    information,
    not_found,
    precondition_failed,
    unprocessable,
)
from tsunagu.fhir.references import relative_to, rewrite
from tsunagu.fhir.resources import new_id, require_resource
from tsunagu.interactions import access, conditional
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse, version_headers
from tsunagu.interactions.operations import validate
from tsunagu.interactions.read import require_id
from tsunagu.storage.repository import Method, StoredResource, WriteSession


def create(
    ctx: Context, req: FhirRequest, resource_type: str, *, id: str | None = None
) -> FhirResponse:
    """POST: a new resource with a server-assigned id (or `id`, reserved by a transaction)."""
    body = _resource(ctx, req, resource_type)
    with ctx.writing() as session:
        criteria = req.headers.get("if-none-exist")
        if criteria:
            query = criteria.removeprefix(f"{resource_type}?").lstrip("?")
            found = conditional.match(ctx, session, resource_type, query)
            if len(found) > 1:
                raise conditional.several(resource_type)
            if found:
                return _written(ctx, req, found[0], status=200)
        body["id"] = id or new_id()
        body = access.before_save(ctx, "c", resource_type, body, None)
        stored = session.save(resource_type, body["id"], body, method="POST", previous=None)
    return _written(ctx, req, stored, status=201)


def update(ctx: Context, req: FhirRequest, resource_type: str, id: str) -> FhirResponse:
    """PUT by id: a new version, or a create with the client's id (update-as-create)."""
    require_id(id)
    body = _resource(ctx, req, resource_type)
    if body.get("id") != id:
        raise bad_request(
            f"本文の id ({body.get('id')!r}) が URL の id ('{id}') と一致しません / "
            f"the body's id ({body.get('id')!r}) must equal the id in the URL ('{id}')",
            expression=(f"{resource_type}.id",),
        )
    with ctx.writing() as session:
        return _put(ctx, req, session, resource_type, id, body, method="PUT")


def conditional_update(ctx: Context, req: FhirRequest, resource_type: str) -> FhirResponse:
    """PUT by criteria: update the one match, or create when nothing matches."""
    body = _resource(ctx, req, resource_type)
    with ctx.writing() as session:
        found = conditional.match(ctx, session, resource_type, _criteria(req))
        if len(found) > 1:
            raise conditional.several(resource_type)
        if found:
            target = found[0].id
            if body.get("id") not in (None, target):
                raise bad_request(
                    f"本文の id が条件に一致したリソース ({resource_type}/{target}) と異なります / "
                    f"the body's id differs from the matching resource {resource_type}/{target}",
                    expression=(f"{resource_type}.id",),
                )
        else:
            target = body.get("id") or new_id()
        body["id"] = target
        return _put(ctx, req, session, resource_type, target, body, method="PUT")


def patch(ctx: Context, req: FhirRequest, resource_type: str, id: str | None) -> FhirResponse:
    """PATCH with a JSON Patch document, by id or by criteria."""
    operations = req.body
    if not isinstance(operations, list):
        raise bad_request(
            "JSON Patch は操作の配列でなければなりません / a JSON Patch document is an array"
        )
    with ctx.writing() as session:
        if id is None:
            found = conditional.match(ctx, session, resource_type, _criteria(req))
            if len(found) > 1:
                raise conditional.several(resource_type)
            if not found:
                raise not_found(
                    f"条件に一致する {resource_type} がありません / "
                    f"no {resource_type} matches the criteria"
                )
            id = found[0].id
        require_id(id)
        session.lock(f"{resource_type}/{id}")
        current = _existing(session, resource_type, id)
        access.require_visible(ctx, current, f"{resource_type}/{id}")
        check_if_match(req, current)
        assert current.content is not None
        patched = _apply_patch(current.content, operations)
        body = require_resource(
            patched, expected_type=resource_type, known=ctx.definitions.resource_types
        )
        body = rewrite(body, relative_to(ctx.base_url))
        if body.get("id") != id:
            raise unprocessable(
                "パッチで id を変更することはできません / a patch may not change the resource id",
                expression=(f"{resource_type}.id",),
            )
        validate.enforce(ctx, body)
        body = access.before_save(ctx, "u", resource_type, body, current)
        stored = session.save(resource_type, id, body, method="PATCH", previous=current)
    return _written(ctx, req, stored, status=200)


def delete(ctx: Context, req: FhirRequest, resource_type: str, id: str | None) -> FhirResponse:
    """DELETE by id or criteria: appends a tombstone version; deleting twice changes nothing."""
    with ctx.writing() as session:
        if id is None:
            found = conditional.match(ctx, session, resource_type, _criteria(req))
            if len(found) > 1:
                raise conditional.several(resource_type)
            if not found:
                return FhirResponse(
                    200,
                    information(
                        f"条件に一致する {resource_type} はなく、何も削除していません / "
                        f"no {resource_type} matched the criteria; nothing was deleted"
                    ),
                )
            id = found[0].id
        require_id(id)
        session.lock(f"{resource_type}/{id}")
        current = session.read(resource_type, id)
        if current is None:
            raise not_found(
                f"{resource_type}/{id} は存在しません / resource {resource_type}/{id} is not known"
            )
        access.before_delete(ctx, resource_type, current)
        check_if_match(req, current)
        if current.deleted:
            return FhirResponse(204, headers=version_headers(current, ctx.base_url), stored=current)
        stored = session.save(resource_type, id, None, method="DELETE", previous=current)
    return FhirResponse(204, headers={"etag": f'W/"{stored.version}"'}, stored=stored)


# --- shared steps ----------------------------------------------------------------------


def _put(
    ctx: Context,
    req: FhirRequest,
    session: WriteSession,
    resource_type: str,
    id: str,
    body: dict[str, Any],
    *,
    method: Method,
) -> FhirResponse:
    session.lock(f"{resource_type}/{id}")
    current = session.read(resource_type, id)
    body = access.before_save(ctx, "u", resource_type, body, current)
    check_if_match(req, current)
    stored = session.save(resource_type, id, body, method=method, previous=current)
    created = current is None or current.deleted
    return _written(ctx, req, stored, status=201 if created else 200)


def check_if_match(req: FhirRequest, current: StoredResource | None) -> None:
    """412 unless `If-Match: W/"n"` names the current version (optimistic locking)."""
    expected = req.headers.get("if-match")
    if expected is None:
        return
    tag = expected.strip()
    version = tag.removeprefix("W/").strip('"')
    if current is None or current.deleted or version != str(current.version):
        have = "none" if current is None else f'W/"{current.version}"'
        raise precondition_failed(
            f"If-Match {tag} が現在のバージョン ({have}) と一致しません / "
            f"If-Match {tag} does not match the current version ({have})"
        )


def _resource(ctx: Context, req: FhirRequest, resource_type: str) -> dict[str, Any]:
    """The request body as a resource of the type, with references to this server relative."""
    body = require_resource(
        req.body, expected_type=resource_type, known=ctx.definitions.resource_types
    )
    result: dict[str, Any] = rewrite(body, relative_to(ctx.base_url))  # a copy, never the input
    validate.enforce(ctx, result)  # 422 with every issue, before anything is written
    return result


def _existing(session: WriteSession, resource_type: str, id: str) -> StoredResource:
    current = session.read(resource_type, id)
    if current is None:
        raise not_found(
            f"{resource_type}/{id} は存在しません / resource {resource_type}/{id} is not known"
        )
    if current.deleted:
        raise FhirError.of(
            410,
            "deleted",
            f"{resource_type}/{id} は削除されています / resource {resource_type}/{id} is deleted",
        )
    return current


def _criteria(req: FhirRequest) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in req.query if k not in ("_format", "_pretty"))


def _apply_patch(content: dict[str, Any], operations: list[Any]) -> Any:
    """Apply the operations one by one, so an error can name the one that failed.

    Messages name the operation and its path, never values from the resource.
    """
    document: Any = content
    for index, operation in enumerate(operations):
        where = _describe(index, operation)
        try:
            document = jsonpatch.JsonPatch([operation]).apply(document, in_place=False)
        except jsonpatch.JsonPatchTestFailed:
            raise unprocessable(
                f"JSON Patch の test 操作が一致しません ({where}) / "
                f"JSON Patch test operation failed ({where})"
            ) from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            raise unprocessable(
                f"JSON Patch の操作を適用できません ({where}) / "
                f"cannot apply JSON Patch operation ({where})"
            ) from None
        except (TypeError, KeyError, ValueError, AttributeError, IndexError):
            raise bad_request(
                f"JSON Patch の操作の形式が不正です ({where}) / "
                f"malformed JSON Patch operation ({where})"
            ) from None
    return document


def _describe(index: int, operation: Any) -> str:
    if isinstance(operation, dict):
        op, path = str(operation.get("op", "?"))[:20], str(operation.get("path", "?"))[:200]
        return f"#{index} {op} {path}"
    return f"#{index}"


def _written(
    ctx: Context, req: FhirRequest, stored: StoredResource, *, status: int
) -> FhirResponse:
    headers = version_headers(stored, ctx.base_url)
    headers["location"] = headers.pop("content-location")
    return FhirResponse(status, stored.content, headers, stored=stored)
