"""Patient/$everything: a patient and every resource in their compartment, paged.

Parameters: `_since` (only resources updated since), `_type` (only these types), `_count`
(page size; pages continue through `next` links), `start` and `end` (dates of care: a
resource whose date of care, `CARE_DATES`, overlaps [start, end] is returned, and so is one
that has none, like the Patient; `end=2024-03-31` includes that day, in Japan time).
See: https://hl7.org/fhir/R4/patient-operation-everything.html
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tsunagu.fhir.datatypes import Period, parse_period
from tsunagu.fhir.outcomes import FhirError, bad_request
from tsunagu.interactions import access
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.search import owner_exists, run
from tsunagu.search import query as search_query
from tsunagu.search.index import row_codes
from tsunagu.search.params.date import BEGINNING, END
from tsunagu.search.query import CareDates, Compartment, SearchQuery

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "Patient-everything",
    "url": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    "name": "everything",
    "status": "active",
    "kind": "operation",
    "code": "everything",
    "resource": ["Patient"],
    "system": False,
    "type": False,
    "instance": True,
    "parameter": [
        {"name": "start", "use": "in", "min": 0, "max": "1", "type": "date"},
        {"name": "end", "use": "in", "min": 0, "max": "1", "type": "date"},
        {"name": "_since", "use": "in", "min": 0, "max": "1", "type": "instant"},
        {"name": "_type", "use": "in", "min": 0, "max": "*", "type": "code"},
        {"name": "_count", "use": "in", "min": 0, "max": "1", "type": "integer"},
        {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle"},
    ],
}


def everything(ctx: Context, req: FhirRequest, resource_type: str, id: str) -> FhirResponse:
    """The patient's record: the Patient first, then the compartment, paged by key.

    Without access control and outside a transaction, the page's own statement checks that
    the owner exists (a page with matches proves it), so a page costs one query; only an
    empty page or a refused request reads the owner again, so that a missing owner is still
    a 404 before anything else.
    """
    folded = (
        access.access_filter(ctx) is None
        and ctx.session is None
        and req.param("_summary") != "count"
    )
    if not folded:
        owner_exists(ctx, resource_type, id)
        return run(ctx, req, _query(ctx, req, resource_type, id, owner_checked=False))
    try:
        response = run(ctx, req, _query(ctx, req, resource_type, id, owner_checked=True))
    except FhirError:
        owner_exists(ctx, resource_type, id)
        raise
    if not _has_matches(response):
        owner_exists(ctx, resource_type, id)
    return response


def _query(
    ctx: Context, req: FhirRequest, resource_type: str, id: str, *, owner_checked: bool
) -> SearchQuery:
    members = ctx.definitions.compartments.get(resource_type, {})
    # The audit trail is in the compartment but is not the patient's record: it has its own
    # view (AuditEvent?patient=), and including it would grow with every $everything call.
    types = sorted(
        {t for t, params in members.items() if params and t != "AuditEvent"} | {resource_type}
    )
    wanted = req.param("_type")
    if wanted:
        types = sorted({t for t in wanted.split(",") if t} & set(types))
        if not types:
            raise bad_request(
                f"_type '{wanted[:80]}' に {resource_type} コンパートメントの型がありません / "
                f"_type names no type of the {resource_type} compartment",
                expression=("_type",),
            )
    params = ctx.registry.compartment_rows(resource_type, tuple(types))
    pairs: list[tuple[str, str]] = [(k, v) for k, v in req.query if k in ("_count", "_cursor")]
    since = req.param("_since")
    if since is not None:
        pairs.append(("_lastUpdated", f"ge{since}"))
    query = search_query.parse(ctx.registry, types, pairs)
    compartment = Compartment(
        resource_type,
        id,
        params,
        include_owner=resource_type in types,
        owner_checked=owner_checked,
        care=_care_dates(ctx, req, types),
    )
    return replace(query, compartment=compartment)


# The date of care of each type (R4's `clinical-date` types use `date`): what `start` and `end`
# of $everything compare. A type without one is returned whatever the dates.
CARE_DATES = {
    **dict.fromkeys(
        (
            "AllergyIntolerance",
            "Appointment",
            "CarePlan",
            "CareTeam",
            "ClinicalImpression",
            "Composition",
            "Consent",
            "DiagnosticReport",
            "Encounter",
            "EpisodeOfCare",
            "FamilyMemberHistory",
            "Flag",
            "Immunization",
            "Invoice",
            "List",
            "Observation",
            "Procedure",
            "RiskAssessment",
            "SupplyRequest",
        ),
        "date",
    ),
    "Communication": "sent",
    "CommunicationRequest": "authored",
    "Condition": "onset-date",
    "DeviceRequest": "authored-on",
    "DocumentReference": "period",
    "ImagingStudy": "started",
    "MedicationAdministration": "effective-time",
    "MedicationDispense": "whenhandedover",
    "MedicationRequest": "authoredon",
    "MedicationStatement": "effective",
    "NutritionOrder": "datetime",
    "QuestionnaireResponse": "authored",
    "ServiceRequest": "authored",
    "Specimen": "collected",
}


def _care_dates(ctx: Context, req: FhirRequest, types: list[str]) -> CareDates | None:
    """`start` and `end` as a period of care (None without either), with the date rows of
    each type's date of care."""
    start, end = req.param("start"), req.param("end")
    if start is None and end is None:
        return None
    low = _day(start, "start").start if start is not None else BEGINNING
    high = _day(end, "end").end if end is not None else END
    if high <= low:
        raise bad_request(
            "$everything の end が start より前です / $everything's end is before its start",
            expression=("end",),
        )
    rows = []
    for rtype in types:
        code = CARE_DATES.get(rtype)
        if code is None:
            continue
        param = ctx.registry.get(rtype, code)
        if param is not None and param.type == "date":
            rows.append((rtype, tuple(sorted(row_codes(ctx.registry, rtype, [code])))))
    return CareDates(tuple(rows), low, high)


def _day(value: str, name: str) -> Period:
    try:
        return parse_period(value)
    except ValueError:
        raise bad_request(
            f"$everything の {name} は日付です (例: 2024-04-01) / $everything's {name} must be "
            f"a date such as 2024-04-01",
            expression=(name,),
        ) from None


def _has_matches(response: FhirResponse) -> bool:
    bundle = response.resource or {}
    return any(entry.get("search", {}).get("mode") == "match" for entry in bundle.get("entry", ()))
