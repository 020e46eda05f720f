"""Audit of every interaction: what was done, to which patients, with what outcome.

`audited` wraps `router.dispatch` when the context has an audit trail (HTTP requests): it
classifies the request (BALP subtype and action), runs it, and records one AuditRecord, plus
any that other layers appended to `Context.audit` on the way (break-glass, consent denials).

- A write (and a transaction Bundle) runs in one transaction that also stores its
  AuditEvents: they commit or roll back together. When it fails, its audit record of the
  failure is stored afterwards on its own.
- Inside a transaction Bundle, each entry's record waits in `Context.audit` and goes into the
  transaction with everything else; the entries' records that differ only in the resources
  they touched become one AuditEvent (`security.audit.combined`): a Bundle of one patient's
  creates leaves one event for that patient, not one per resource.
- Reads, searches, operations and denials go to the trail's group-commit writer.
AuditEvents themselves are read-only through the API (405).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

from tsunagu.fhir.jsonio import StoredObject
from tsunagu.fhir.outcomes import FhirError, not_supported
from tsunagu.fhir.resources import looks_like_type
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.search.roots import element_names, present
from tsunagu.security.audit import AuditRecord, combined
from tsunagu.security.audit_event import Observer, RequestFacts, audit_events
from tsunagu.storage.audit import AuditTrail
from tsunagu.storage.repository import WriteSession

Run = Callable[[Context, FhirRequest], FhirResponse]
AUDIT_EVENT = "AuditEvent"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OBSERVER = Observer()
# The audit store's own subtypes of a write: these run in one transaction with their events.
_TRANSACTIONAL = frozenset({"create", "update", "patch", "delete", "transaction"})
_READ_ACTIONS = ("read", "vread", "search", "history")
_ACTIONS = {"create": "C", "update": "U", "patch": "U", "delete": "D"}
# Search parameters that name the patient a search is about.
_PATIENT_PARAMS = frozenset({"patient", "subject", "beneficiary"})
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/|$)")
# Shaping parameters that may drop the elements naming the patient from a response.
_SHAPING = ("_elements", "_summary")


@dataclass(frozen=True)
class Interaction:
    """What a request does, as the audit log names it."""

    subtype: str  # restful-interaction code, `$operation`, `transaction` or `batch`
    action: str  # C R U D E
    resource_type: str | None = None
    id: str | None = None
    owner: tuple[str, str] | None = None  # the compartment owner, for `Patient/1/Observation`

    @property
    def transactional(self) -> bool:
        return self.subtype in _TRANSACTIONAL

    @property
    def search(self) -> bool:
        return self.subtype.startswith("search")


def classify(req: FhirRequest) -> Interaction | None:
    """The interaction a request names (None for the public CapabilityStatement)."""
    method = "GET" if req.method == "HEAD" else req.method
    parts = req.path.split("/") if req.path else []
    if not parts:
        if method == "POST":
            body = req.body if isinstance(req.body, dict) else {}
            kind = "transaction" if body.get("type") == "transaction" else "batch"
            return Interaction(kind, "E")
        return _interaction("search-system")
    head = parts[0]
    if head == "metadata":
        return None
    if head == "_search":
        return _interaction("search-system")
    if head == "_history":
        return _interaction("history-system")
    if head.startswith("$") or not looks_like_type(head):
        return Interaction(head if head.startswith("$") else method.lower(), "E")
    rest = parts[1:]
    if not rest:
        by_method = {"GET": "search-type", "POST": "create", "PUT": "update"}
        subtype = by_method.get(method, method.lower())
        return _interaction(subtype, head)
    first = rest[0]
    if first == "_search":
        return _interaction("search-type", head)
    if first == "_history":
        return _interaction("history-type", head)
    if first.startswith("$"):
        return Interaction(first, "E", head)
    if len(rest) == 1:
        subtype = {"GET": "read", "PUT": "update"}.get(method, method.lower())
        return _interaction(subtype, head, first)
    second = rest[1]
    if second == "_history":
        return _interaction("vread" if len(rest) > 2 else "history-instance", head, first)
    if second.startswith("$"):
        return Interaction(second, "E", head, first)
    return Interaction("search-type", "R", second, None, owner=(head, first))


def _interaction(
    subtype: str, resource_type: str | None = None, id: str | None = None
) -> Interaction:
    action = "R" if subtype.startswith(_READ_ACTIONS) else _ACTIONS.get(subtype, "E")
    return Interaction(subtype, action, resource_type, id)


# --- the wrapper ---------------------------------------------------------------------------


def audited(ctx: Context, req: FhirRequest, run: Run) -> FhirResponse:
    """Run the request and record it in the context's audit trail."""
    trail = ctx.audit_trail
    kind = classify(req)
    if trail is None or kind is None:
        return run(ctx, req)
    if kind.resource_type == AUDIT_EVENT:
        if req.method in WRITES:
            _fail(ctx, kind, read_only(), trail)
        if ctx.session is None:  # (inside a transaction the writer could not get the lock)
            trail.flush()  # a listing of the audit log shows every request answered before it
    start = len(ctx.audit)
    if ctx.session is not None:  # an entry of a transaction Bundle
        try:
            response = run(ctx, req)
        except FhirError as error:
            ctx.audit.append(_failure(ctx, kind, error.status))
            raise
        _add(ctx, start, _success(ctx, req, kind, response))
        return response
    if kind.transactional:
        return _write(ctx, req, kind, run, trail)
    try:
        response = run(ctx, req)
    except FhirError as error:
        _fail(ctx, kind, error, trail)
    except Exception:
        ctx.audit.append(_failure(ctx, kind, 500))
        submit(trail, ctx)
        raise
    _add(ctx, start, _success(ctx, req, kind, response))
    submit(trail, ctx)
    return response


def _add(ctx: Context, start: int, record: AuditRecord) -> None:
    """Add the interaction's record, unless the handler recorded the same act itself (with
    more to say, such as break-glass with purpose ETREAT) since `start`."""
    if all(other.subtype != record.subtype for other in ctx.audit[start:]):
        ctx.audit.append(record)


def refused(ctx: Context, req: FhirRequest, status: int) -> None:
    """Record a request refused before it reached an interaction (413, an unparsable body)."""
    kind = classify(req)
    if ctx.audit_trail is None or kind is None:
        return
    ctx.audit.append(_failure(ctx, kind, status))
    submit(ctx.audit_trail, ctx)


def _write(
    ctx: Context, req: FhirRequest, kind: Interaction, run: Run, trail: AuditTrail
) -> FhirResponse:
    """A write and its AuditEvents in one transaction; the failure recorded on its own."""
    start = len(ctx.audit)
    try:
        with ctx.writing() as session:
            inner = replace(ctx, session=session)  # shares `audit` with ctx
            before = _before(inner, session, kind)
            response = run(inner, req)
            _add(ctx, start, _success(inner, req, kind, response, before))
            trail.append(session, events(ctx, combined(ctx.audit)))
            ctx.audit.clear()
        return response
    except FhirError as error:
        _rolled_back(ctx)
        _fail(ctx, kind, error, trail)
    except Exception:
        _rolled_back(ctx)
        ctx.audit.append(_failure(ctx, kind, 500))
        submit(trail, ctx)
        raise


def _rolled_back(ctx: Context) -> None:
    """Forget the records of what a failed transaction did; keep those of what failed."""
    ctx.audit[:] = [record for record in ctx.audit if record.failed]


def _fail(ctx: Context, kind: Interaction, error: FhirError, trail: AuditTrail) -> NoReturn:
    """Record a failed request and raise its error."""
    ctx.audit.append(_failure(ctx, kind, error.status))
    submit(trail, ctx)
    raise error


def read_only() -> FhirError:
    error = not_supported(
        "AuditEvent は監査ログだけが記録します。API から作成・変更・削除はできません / "
        "AuditEvents are written by the audit log only; they cannot be created, changed or "
        "deleted through the API",
        status=405,
    )
    error.headers["allow"] = "GET"
    return error


# --- records -------------------------------------------------------------------------------


def _success(
    ctx: Context,
    req: FhirRequest,
    kind: Interaction,
    response: FhirResponse,
    before: Iterable[str] = (),
) -> AuditRecord:
    patients = _request_patients(req, kind) | set(before)
    entities: tuple[str, ...] = ()
    query = None
    stored = response.stored
    if kind.search or kind.subtype.startswith(("history", "$")):
        if isinstance(response.resource, dict):
            patients |= _bundle_patients(ctx, req, response.resource, response.patients)
        if kind.search or req.query:
            query = _query(req)
    elif stored is not None:
        entities = (f"{stored.resource_type}/{stored.id}/_history/{stored.version}",)
        if stored.content is not None:
            patients |= patients_of(ctx, stored.content)
    return AuditRecord(
        kind.action,
        kind.subtype,
        response.status,
        tuple(sorted(patients)),
        entities,
        resource_type=kind.resource_type,
        query=query,
    )


def _failure(ctx: Context, kind: Interaction, status: int) -> AuditRecord:
    """The record of a refused or failed request: the patient of its target when known, so a
    patient also sees who was refused access to their data."""
    patients: set[str] = set()
    entities: tuple[str, ...] = ()
    if kind.owner is not None and kind.owner[0] == "Patient":
        patients.add(kind.owner[1])
    if kind.resource_type is not None and kind.id is not None:
        entities = (f"{kind.resource_type}/{kind.id}",)
        if kind.resource_type == "Patient":
            patients.add(kind.id)
        elif status in (401, 403, 404) and kind.resource_type in ctx.definitions.resource_types:
            current = ctx.repository.read(kind.resource_type, kind.id)
            if current is not None and current.content is not None:
                patients |= patients_of(ctx, current.content)
    return AuditRecord(
        kind.action,
        kind.subtype,
        status,
        tuple(sorted(patients)),
        entities,
        resource_type=kind.resource_type,
    )


def _before(ctx: Context, session: WriteSession, kind: Interaction) -> set[str]:
    """The patients of a resource about to be deleted (its tombstone names none)."""
    if kind.subtype != "delete" or kind.id is None or kind.resource_type is None:
        return set()
    if kind.resource_type not in ctx.definitions.resource_types:
        return set()
    current = session.read(kind.resource_type, kind.id)
    if current is None or current.content is None:
        return set()
    return patients_of(ctx, current.content)


def _request_patients(req: FhirRequest, kind: Interaction) -> set[str]:
    """Patients the request itself names: its path, or a patient search parameter."""
    found: set[str] = set()
    if kind.owner is not None and kind.owner[0] == "Patient":
        found.add(kind.owner[1])
    if kind.resource_type == "Patient" and kind.id is not None:
        found.add(kind.id)
    for key, value in req.query:
        name, _, modifier = key.partition(":")
        if name == "_id" and kind.resource_type == "Patient" and not modifier:
            found.update(v for v in value.split(",") if v)
        elif name in _PATIENT_PARAMS and "." not in key:
            for item in value.split(","):
                match = _PATIENT_REF.search(item)
                if match:
                    found.add(match.group(1))
                elif (name == "patient" or modifier == "Patient") and _plain_id(item):
                    found.add(item)
    return found


def _plain_id(value: str) -> bool:
    return bool(value) and "/" not in value and "|" not in value


def _bundle_patients(
    ctx: Context,
    req: FhirRequest,
    bundle: dict[str, Any],
    known: Mapping[str, frozenset[str]],
) -> set[str]:
    """Patients of the resources a Bundle returns: those storage knows (`known`, from the access
    facts written with each version), or from the resource (read again in full when the
    request's shaping may have dropped the elements that name them)."""
    shaped = any(req.param(name) is not None for name in _SHAPING)
    # By the entries' full URLs, so that a resource whose patients are known is not parsed.
    by_url = {ctx.url(key): patients for key, patients in known.items()}
    found: set[str] = set()
    for entry in bundle.get("entry") or ():
        if not isinstance(entry, dict):
            continue
        told = by_url.get(str(entry.get("fullUrl")))
        if told is not None:
            found |= told
            continue
        resource = entry.get("resource")
        if isinstance(resource, StoredObject):
            resource = resource.value
        if not isinstance(resource, dict):
            continue
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if rtype == "OperationOutcome":
            continue
        if shaped and isinstance(rtype, str) and isinstance(rid, str):
            current = ctx.repository.read(rtype, rid)
            if current is not None and current.content is not None:
                resource = current.content
        found |= patients_of(ctx, resource)
    return found


def patients_of(ctx: Context, resource: dict[str, Any]) -> set[str]:
    """The Patients a resource belongs to, by the Patient compartment's parameters."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return set()
    found: set[str] = set()
    if rtype == "Patient" and isinstance(resource.get("id"), str):
        found.add(resource["id"])
    names: frozenset[str] | None = None
    for code in ctx.definitions.compartments.get("Patient", {}).get(rtype, ()):
        param = ctx.registry.get(rtype, code)
        if param is None or param.extractor is None or param.type != "reference":
            continue
        if param.roots is not None:
            # The elements it starts from are absent: it selects nothing (`search.roots`).
            names = element_names(resource) if names is None else names
            if not present(param.roots, names):
                continue
        for value in param.extractor(resource):
            reference = value.value.get("reference") if isinstance(value.value, dict) else None
            if isinstance(reference, str):
                match = _PATIENT_REF.search(reference)
                if match:
                    found.add(match.group(1))
    return found


def _query(req: FhirRequest) -> str:
    return urlencode(req.query, safe=",|:/$*", quote_via=quote)


# --- events --------------------------------------------------------------------------------


def events(ctx: Context, records: Iterable[AuditRecord]) -> list[dict[str, Any]]:
    """The AuditEvents of records made for the context's principal."""
    now = datetime.now(UTC)
    result: list[dict[str, Any]] = []
    for record in records:
        facts = RequestFacts(
            now,
            ctx.client_address,
            unauthenticated=ctx.principal is None and record.outcome == 401,
        )
        result.extend(audit_events(record, ctx.principal, facts, OBSERVER))
    return result


def submit(trail: AuditTrail, ctx: Context) -> None:
    """Hand the context's pending records to the trail's own transaction (group commit)."""
    if not ctx.audit:
        return
    pending = events(ctx, ctx.audit)
    ctx.audit.clear()
    trail.submit(pending)


def sink(trail: AuditTrail) -> Callable[[Context], None]:
    """`Platform.audit_sink`: records made outside `dispatch` (401, token issuance)."""
    return lambda ctx: submit(trail, ctx)
