"""Disaster mode (災害時モード): declaring and ending disasters, and the access they open.

- `POST /fhir/Basic/$declare-disaster` (administrators): Parameters `name`, `start`, `end`
  (date-times with a time zone), `prefecture` (0..*, 2 digits), `municipality` (0..*, JIS X
  0402), `servingFacility` (0..*, 10-digit facility codes), `category` (0..*, default
  prescriptions, diagnoses, allergies, contraindications) → 201 with the declaration, a
  `Basic` resource (identity/disaster.py says why Basic).
- `POST /fhir/Basic/{id}/$end-disaster` (administrators): ends it now (a new version whose
  period ends at this moment). A declaration also ends by itself at its period's end.
- `GET /fhir/$disaster-status[?facility=...]`: the declarations active now that cover the
  caller's facility, and the categories they open (Parameters).

`disaster_categories(ctx, facility, at)` is what the access policy asks on each request.
Every declaration and end is audited (AuditRecord with the declaration's reference).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tsunagu.fhir.outcomes import FhirError, bad_request, not_found
from tsunagu.fhir.parameters import is_parameters, named_parameters
from tsunagu.identity.disaster import (
    AREA_EXTENSION,
    CATEGORY_EXTENSION,
    CATEGORY_SYSTEM,
    DECLARATION_CODE,
    KIND_SYSTEM,
    MUNICIPALITY_SYSTEM,
    NAME_EXTENSION,
    PERIOD_EXTENSION,
    PREFECTURE_SYSTEM,
    SERVING_EXTENSION,
    Declaration,
    DeclarationError,
    covering,
    declaration_from_resource,
    declaration_resource,
    is_declaration,
    open_categories,
)
from tsunagu.identity.insurance import FACILITY_CODE_SYSTEM
from tsunagu.interactions import write
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.operations.eligibility import parameters
from tsunagu.search import query as search_query
from tsunagu.security.audit import AuditRecord
from tsunagu.security.categories import Category
from tsunagu.security.principal import Role

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "tsunagu-declare-disaster",
    "url": "http://tsunagu.jp/fhir/OperationDefinition/declare-disaster",
    "name": "declare-disaster",
    "title": "災害時モードの宣言 / declare a disaster",
    "status": "active",
    "kind": "operation",
    "code": "declare-disaster",
    "resource": ["Basic"],
    "system": False,
    "type": True,
    "instance": False,
    "parameter": [
        {"name": "name", "use": "in", "min": 1, "max": "1", "type": "string"},
        {"name": "start", "use": "in", "min": 0, "max": "1", "type": "dateTime"},
        {"name": "end", "use": "in", "min": 1, "max": "1", "type": "dateTime"},
        {"name": "prefecture", "use": "in", "min": 0, "max": "*", "type": "string"},
        {"name": "municipality", "use": "in", "min": 0, "max": "*", "type": "string"},
        {"name": "servingFacility", "use": "in", "min": 0, "max": "*", "type": "string"},
        {"name": "category", "use": "in", "min": 0, "max": "*", "type": "code"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Basic"},
    ],
}
END_DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "tsunagu-end-disaster",
    "url": "http://tsunagu.jp/fhir/OperationDefinition/end-disaster",
    "name": "end-disaster",
    "status": "active",
    "kind": "operation",
    "code": "end-disaster",
    "resource": ["Basic"],
    "system": False,
    "type": False,
    "instance": True,
    "parameter": [{"name": "return", "use": "out", "min": 1, "max": "1", "type": "Basic"}],
}
STATUS_DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "tsunagu-disaster-status",
    "url": "http://tsunagu.jp/fhir/OperationDefinition/disaster-status",
    "name": "disaster-status",
    "title": "災害時モードの状況 / active disaster declarations",
    "status": "active",
    "kind": "operation",
    "code": "disaster-status",
    "affectsState": False,
    "system": True,
    "type": False,
    "instance": False,
    "parameter": [
        {"name": "facility", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "declaration", "use": "out", "min": 0, "max": "*"},
        {"name": "category", "use": "out", "min": 0, "max": "*", "type": "Coding"},
    ],
}
# Every operation this module serves, for the CapabilityStatement.
DEFINITIONS = (DEFINITION, END_DEFINITION, STATUS_DEFINITION)
MAX_DECLARATIONS = 1000
PURPOSE = "ETREAT"  # v3 PurposeOfUse: emergency treatment


# --- what the policy asks --------------------------------------------------------------------


def declarations(ctx: Context) -> list[Declaration]:
    """Every stored declaration (valid ones; active or not)."""
    query = search_query.parse(
        ctx.registry, ["Basic"], [("code", f"{KIND_SYSTEM}|{DECLARATION_CODE}")]
    )
    found = []
    for match in (ctx.session or ctx.repository).search(replace(query, count=MAX_DECLARATIONS)):
        content = match.resource.content
        if content is None or not is_declaration(content):
            continue
        try:
            found.append(declaration_from_resource(content))
        except DeclarationError:
            continue  # an invalid declaration opens nothing
    return found


def disaster_categories(ctx: Context, facility: str, at: datetime) -> frozenset[Category]:
    """The information categories `facility` may read without consent at `at`, because a
    declared disaster covers the facility's area (empty when none does)."""
    opened = open_categories(declarations(ctx), facility, at)
    return frozenset(Category(c) for c in opened if c in Category.__members__.values())


# --- operations -------------------------------------------------------------------------------


def _require_administrator(ctx: Context) -> None:
    principal = ctx.principal
    if principal is not None and principal.role is not Role.ADMINISTRATOR:
        raise FhirError.of(
            403,
            "forbidden",
            "災害の宣言と終了は管理者のみ行えます / "
            "only administrators may declare or end a disaster",
        )


def declare(ctx: Context, req: FhirRequest, resource_type: str) -> FhirResponse:
    """POST /Basic/$declare-disaster."""
    if resource_type != "Basic":
        raise bad_request(
            "$declare-disaster は Basic に対する操作です / $declare-disaster is an operation on "
            "Basic",
            code="not-supported",
        )
    _require_administrator(ctx)
    resource = _declaration_from_parameters(req.body)
    try:
        declaration = declaration_from_resource(resource)
    except DeclarationError as error:
        raise FhirError(400, error.issues) from None
    if declaration.end <= datetime.now(UTC):
        raise bad_request(
            "終了が過去の災害は宣言できません / a disaster cannot be declared to end in the past",
            expression=("Parameters.end",),
        )
    # The server writes it once the caller is known to be an administrator.
    server = replace(ctx, principal=None)
    response = write.create(server, FhirRequest("POST", "Basic", body=resource), "Basic")
    _audit(ctx, response, "$declare-disaster", 201)
    return response


def end(ctx: Context, req: FhirRequest, resource_type: str, id: str) -> FhirResponse:
    """POST /Basic/{id}/$end-disaster: the declaration's period now ends at this moment."""
    _require_administrator(ctx)
    now = datetime.now(UTC)
    stored = (ctx.session or ctx.repository).read(resource_type, id)
    content = stored.content if stored else None
    if resource_type != "Basic" or content is None or not is_declaration(content):
        raise not_found(
            f"災害宣言 {resource_type}/{id[:64]} はありません / "
            f"no disaster declaration {resource_type}/{id[:64]}"
        )
    try:
        declaration = declaration_from_resource(content)
    except DeclarationError as error:
        raise FhirError(422, error.issues) from None
    if declaration.end <= now:
        raise FhirError.of(
            409,
            "conflict",
            "この災害宣言はすでに終了しています / this disaster declaration has already ended",
        )
    ended = declaration_resource(replace(declaration, end=max(now, declaration.start)))
    body = {**content, "extension": ended["extension"]}
    headers = {"if-match": f'W/"{stored.version}"'} if stored else {}
    response = write.update(
        replace(ctx, principal=None),
        FhirRequest("PUT", f"Basic/{id}", headers=headers, body=body),
        "Basic",
        id,
    )
    _audit(ctx, response, "$end-disaster", 200)
    return response


def status(ctx: Context, req: FhirRequest) -> FhirResponse:
    """GET /$disaster-status: active declarations covering a facility, and what they open."""
    principal = ctx.principal
    facility = req.param("facility")
    if principal is not None and principal.role is not Role.ADMINISTRATOR:
        facility = principal.facility
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    active = [d for d in declarations(ctx) if d.active(now)]
    chosen = covering(active, facility, now) if facility else active
    for declaration in chosen:
        parts: list[dict[str, Any]] = [
            {"name": "name", "valueString": declaration.name},
            {"name": "start", "valueDateTime": declaration.start.isoformat()},
            {"name": "end", "valueDateTime": declaration.end.isoformat()},
        ]
        if declaration.id:
            parts.append(
                {"name": "reference", "valueReference": {"reference": f"Basic/{declaration.id}"}}
            )
        out.append({"name": "declaration", "part": parts})
    if facility:
        for category in sorted(open_categories(chosen, facility, now)):
            coding = {"system": CATEGORY_SYSTEM, "code": category}
            out.append({"name": "category", "valueCoding": coding})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": out})


def _audit(ctx: Context, response: FhirResponse, subtype: str, outcome: int) -> None:
    stored = response.stored
    entity = f"Basic/{stored.id}/_history/{stored.version}" if stored else ""
    ctx.audit.append(
        AuditRecord(
            action="E",
            subtype=subtype,
            outcome=outcome,
            entities=(entity,) if entity else (),
            purpose=PURPOSE,
            resource_type="Basic",
        )
    )


def _declaration_from_parameters(body: Any) -> dict[str, Any]:
    """The declaration `Basic` a Parameters body describes (validated by the caller)."""
    if not is_parameters(body):
        parameters(body)  # raises the common error
    values: dict[str, list[Any]] = {}
    for key, parameter in named_parameters(body):
        value = next((v for k, v in parameter.items() if k.startswith("value")), None)
        values.setdefault(key, []).append(value)
    name = (values.get("name") or [None])[0]
    if not isinstance(name, str) or not name.strip():
        raise bad_request(
            "name (災害名) が必要です / name is required",
            code="required",
            expression=("Parameters.name",),
        )
    start = (values.get("start") or [datetime.now(UTC).isoformat(timespec="seconds")])[0]
    end_at = (values.get("end") or [None])[0]
    extensions: list[dict[str, Any]] = [
        {"url": NAME_EXTENSION, "valueString": name.strip()[:200]},
        {"url": PERIOD_EXTENSION, "valuePeriod": {"start": start, "end": end_at}},
    ]
    for code in values.get("prefecture", []):
        coding = {"system": PREFECTURE_SYSTEM, "code": str(code)}
        extensions.append({"url": AREA_EXTENSION, "valueCodeableConcept": {"coding": [coding]}})
    for code in values.get("municipality", []):
        coding = {"system": MUNICIPALITY_SYSTEM, "code": str(code)}
        extensions.append({"url": AREA_EXTENSION, "valueCodeableConcept": {"coding": [coding]}})
    for code in values.get("servingFacility", []):
        identifier = {"system": FACILITY_CODE_SYSTEM, "value": str(code)}
        extensions.append({"url": SERVING_EXTENSION, "valueIdentifier": identifier})
    for code in values.get("category", []):
        coding = {"system": CATEGORY_SYSTEM, "code": str(code)}
        extensions.append({"url": CATEGORY_EXTENSION, "valueCoding": coding})
    resource = {
        "resourceType": "Basic",
        "code": {
            "coding": [
                {"system": KIND_SYSTEM, "code": DECLARATION_CODE, "display": "災害時モード宣言"}
            ]
        },
        "created": str(start)[:10],
        "extension": extensions,
    }
    return resource
