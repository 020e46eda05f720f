"""THE route table of the FHIR REST API: one line per interaction.

`dispatch` matches a request's method and path (relative to the FHIR base) against the table
and calls the handler. HTTP, Bundle entries, the CLI and tests all come through here.
See: https://hl7.org/fhir/R4/http.html
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tsunagu.fhir.outcomes import FhirError, information, not_supported
from tsunagu.fhir.resources import looks_like_type
from tsunagu.interactions import access, audit, bundle, capabilities, history, read, search, write
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.operations import (
    break_glass,
    disaster,
    eligibility,
    everything,
    match,
    reindex,
    roster,
    validate,
)

Handler = Callable[..., FhirResponse]

# (method, shape of the path) -> handler. In shapes, T is a resource type, I an id, V a version,
# C a resource type inside a compartment; `$name` is an operation.
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "metadata"): lambda ctx, req: capabilities.capability_statement(ctx, req),
    ("POST", ""): lambda ctx, req: bundle.process(ctx, req, dispatch),
    ("GET", ""): lambda ctx, req: search.search_system(ctx, req),
    ("POST", "_search"): lambda ctx, req: search.search_system(ctx, req),
    ("GET", "_history"): lambda ctx, req: history.history(ctx, req),
    ("POST", "$reindex"): lambda ctx, req: reindex.reindex(ctx, req),
    ("GET", "T"): lambda ctx, req, t: search.search_type(ctx, req, t),
    ("POST", "T/_search"): lambda ctx, req, t: search.search_type(ctx, req, t),
    ("POST", "T"): lambda ctx, req, t: write.create(ctx, req, t, id=req.assigned_id),
    ("PUT", "T"): lambda ctx, req, t: write.conditional_update(ctx, req, t),
    ("PATCH", "T"): lambda ctx, req, t: write.patch(ctx, req, t, None),
    ("DELETE", "T"): lambda ctx, req, t: write.delete(ctx, req, t, None),
    ("GET", "T/_history"): lambda ctx, req, t: history.history(ctx, req, t),
    ("GET", "T/I"): lambda ctx, req, t, i: read.read(ctx, req, t, i),
    ("PUT", "T/I"): lambda ctx, req, t, i: write.update(ctx, req, t, i),
    ("PATCH", "T/I"): lambda ctx, req, t, i: write.patch(ctx, req, t, i),
    ("DELETE", "T/I"): lambda ctx, req, t, i: write.delete(ctx, req, t, i),
    ("GET", "T/I/_history"): lambda ctx, req, t, i: history.history(ctx, req, t, i),
    ("GET", "T/I/_history/V"): lambda ctx, req, t, i, v: read.vread(ctx, req, t, i, v),
    ("GET", "T/I/C"): lambda ctx, req, t, i, c: search.search_compartment(ctx, req, t, i, c),
    ("GET", "T/I/$everything"): lambda ctx, req, t, i: everything.everything(ctx, req, t, i),
    ("POST", "T/I/$everything"): lambda ctx, req, t, i: everything.everything(ctx, req, t, i),
    ("POST", "T/I/$break-glass"): lambda ctx, req, t, i: break_glass.break_glass(ctx, req, t, i),
    ("POST", "T/$validate"): lambda ctx, req, t: validate.validate(ctx, req, t),
    ("POST", "T/$eligibility"): lambda ctx, req, t: eligibility.eligibility(ctx, req, t),
    ("POST", "T/$match"): lambda ctx, req, t: match.match(ctx, req, t),
    ("POST", "T/$import-roster"): lambda ctx, req, t: roster.import_roster(ctx, req, t),
    ("POST", "T/$declare-disaster"): lambda ctx, req, t: disaster.declare(ctx, req, t),
    ("GET", "$disaster-status"): lambda ctx, req: disaster.status(ctx, req),
    ("POST", "T/I/$end-disaster"): lambda ctx, req, t, i: disaster.end(ctx, req, t, i),
    ("POST", "T/I/$validate"): lambda ctx, req, t, i: validate.validate(ctx, req, t, i),
}
# The operations served, for the CapabilityStatement.
_OPERATION_MODULES = (
    everything,
    reindex,
    validate,
    break_glass,
    eligibility,
    roster,
    disaster,
    match,
)
# Every OperationDefinition served (a module lists several in `DEFINITIONS`).
OPERATIONS: tuple[dict[str, Any], ...] = tuple(
    definition
    for module in _OPERATION_MODULES
    for definition in getattr(module, "DEFINITIONS", (module.DEFINITION,))
)


def dispatch(ctx: Context, req: FhirRequest) -> FhirResponse:
    """Run the interaction a request names; raises FhirError for anything that fails.

    With an audit trail in the context (HTTP requests), every call is audited, each
    Bundle entry included (`interactions.audit`).
    """
    if ctx.audit_trail is None:
        return _route(ctx, req)
    return audit.audited(ctx, req, _route)


def _route(ctx: Context, req: FhirRequest) -> FhirResponse:
    method = "GET" if req.method == "HEAD" else req.method
    shape, args = _shape(ctx, req.path)
    handler = ROUTES.get((method, shape))
    if handler is None:
        allowed = sorted(m for (m, s) in ROUTES if s == shape)
        if not allowed:
            raise not_supported(
                f"'{req.path[:100]}' は FHIR のエンドポイントではありません / "
                f"'{req.path[:100]}' is not a FHIR endpoint of this server",
                status=400 if "$" in req.path else 404,
            )
        error = not_supported(
            f"{req.method} は '{req.path[:100]}' に使えません (使える: {', '.join(allowed)}) / "
            f"{req.method} is not supported on '{req.path[:100]}' (allowed: {', '.join(allowed)})"
        )
        error.headers["allow"] = ", ".join(allowed)
        raise error
    access.authorize(ctx, method, shape, args, req.query)
    response = handler(ctx, req, *args)
    return _preferred(req, response)


def _shape(ctx: Context, path: str) -> tuple[str, list[str]]:
    parts = path.split("/") if path else []
    if not parts or parts[0] in ("metadata", "_history", "_search") or parts[0].startswith("$"):
        return "/".join(parts), []
    if not looks_like_type(parts[0]):
        return path, []
    if parts[0] not in ctx.definitions.resource_types:
        raise FhirError.of(
            404,
            "not-supported",
            f"リソース型 '{parts[0][:64]}' は FHIR R4 にありません / "
            f"'{parts[0][:64]}' is not a FHIR R4 resource type",
        )
    shape = ["T"]
    args = [parts[0]]
    for position, part in enumerate(parts[1:], start=1):
        if part in ("_history", "_search") or (position == 1 and part.startswith("$")):
            shape.append(part)  # a type-level operation (`Patient/$validate`) is no id
        elif position == 1:
            shape.append("I")
            args.append(part)
        elif position == 3 and parts[2] == "_history":
            shape.append("V")
            args.append(part)
        elif position == 2 and part in ctx.definitions.resource_types:
            shape.append("C")
            args.append(part)
        else:
            shape.append(part)
    return "/".join(shape), args


def _preferred(req: FhirRequest, response: FhirResponse) -> FhirResponse:
    """Apply `Prefer: return=` to the result of a write."""
    if req.method not in ("POST", "PUT", "PATCH") or response.stored is None:
        return response
    choice = req.prefer("return")
    if choice == "minimal":
        response.resource = None
    elif choice == "OperationOutcome":
        stored = response.stored
        what = f"{stored.resource_type}/{stored.id}/_history/{stored.version}" if stored else ""
        response.resource = information(f"{what} を保存しました / stored {what}".strip())
    return response


def route_table() -> list[tuple[str, str]]:
    """The (method, path shape) pairs served, for the CapabilityStatement and docs."""
    return sorted(ROUTES)


__all__: list[Any] = ["OPERATIONS", "ROUTES", "dispatch", "route_table"]
