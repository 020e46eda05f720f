"""Coverage/$eligibility: online eligibility confirmation (オンライン資格確認).

Input (a Parameters body): either the card numbers — `insurerNumber`, `symbol` (optional),
`number`, `branch` (optional), `birthDate` — or `memberId` (the JP-CLINS
`保険者番号:記号:番号:枝番`) with `birthDate`, or a patient `credential` (a patient access
token: the role the My Number card plays), plus `date` (default: today in Japan).

Output: `validity` (資格有効性 1–5, OQSCD006), `reason` (0..*), and when a Coverage was
found: `coverage`, `patient`, `memberId`, `period`, `insurer` (+ `insurerName`),
`copayPercent` (負担割合), `limitCategory` (限度額適用区分), `relationship`, `reasonOfLoss`,
`newerCoverage` (for 3), and `match` (for 5, the references only).

Every check appends an AuditRecord. A successful check (1) records the facility's
relationship with the patient as a `proposed` Consent for that facility
(docs/identity-eligibility.md, docs/security.md), unless the facility already has a proposed
or active one: that is what consent is then asked on.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from tsunagu.fhir.datatypes import JAPAN
from tsunagu.fhir.outcomes import FhirError, bad_request
from tsunagu.fhir.parameters import is_parameters
from tsunagu.identity.coverage import (
    CARD_ID_SYSTEM,
    LIMIT_CATEGORIES,
    LIMIT_CATEGORY_SYSTEM,
    LOSS_REASONS,
    LOSS_SYSTEM,
    RELATIONSHIPS,
    CoverageError,
    coverage_facts,
)
from tsunagu.identity.disaster import facility_prefecture
from tsunagu.identity.eligibility import (
    REASON_SYSTEM,
    VALIDITY_SYSTEM,
    Candidate,
    EligibilityRequest,
    EligibilityResult,
    Validity,
    decide,
)
from tsunagu.identity.insurance import (
    FACILITY_CODE_SYSTEM,
    INSURED_CATEGORY_SYSTEM,
    INSURER_NUMBER_SYSTEM,
    IdentifierError,
    MemberId,
    parse_member_id,
)
from tsunagu.interactions import write
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.search import query as search_query
from tsunagu.security.audit import AuditRecord
from tsunagu.security.categories import Category
from tsunagu.security.principal import Role
from tsunagu.security.resource_categories import with_facility
from tsunagu.storage.repository import ResourceRepository, WriteSession

DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "tsunagu-coverage-eligibility",
    "url": "http://tsunagu.jp/fhir/OperationDefinition/Coverage-eligibility",
    "name": "eligibility",
    "title": "オンライン資格確認 / online eligibility confirmation",
    "status": "active",
    "kind": "operation",
    "code": "eligibility",
    "resource": ["Coverage"],
    "system": False,
    "type": True,
    "instance": False,
    "parameter": [
        {"name": "insurerNumber", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "symbol", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "number", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "branch", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "memberId", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "birthDate", "use": "in", "min": 0, "max": "1", "type": "date"},
        {"name": "credential", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "date", "use": "in", "min": 0, "max": "1", "type": "date"},
        {"name": "facility", "use": "in", "min": 0, "max": "1", "type": "string"},
        {"name": "validity", "use": "out", "min": 1, "max": "1", "type": "Coding"},
        {"name": "reason", "use": "out", "min": 0, "max": "*", "type": "Coding"},
        {"name": "coverage", "use": "out", "min": 0, "max": "1", "type": "Reference"},
        {"name": "patient", "use": "out", "min": 0, "max": "1", "type": "Reference"},
        {"name": "memberId", "use": "out", "min": 0, "max": "1", "type": "Identifier"},
        {"name": "period", "use": "out", "min": 0, "max": "1", "type": "Period"},
        {"name": "insurer", "use": "out", "min": 0, "max": "1", "type": "Identifier"},
        {"name": "insurerName", "use": "out", "min": 0, "max": "1", "type": "string"},
        {"name": "copayPercent", "use": "out", "min": 0, "max": "1", "type": "integer"},
        {"name": "limitCategory", "use": "out", "min": 0, "max": "1", "type": "Coding"},
        {"name": "relationship", "use": "out", "min": 0, "max": "1", "type": "Coding"},
        {"name": "reasonOfLoss", "use": "out", "min": 0, "max": "1", "type": "Coding"},
        {"name": "newerCoverage", "use": "out", "min": 0, "max": "1", "type": "Reference"},
        {"name": "match", "use": "out", "min": 0, "max": "*", "type": "Reference"},
    ],
}
MAX_CANDIDATES = 100
# Who may confirm eligibility: people and systems of a facility, and operators.
ALLOWED_ROLES = frozenset(
    {
        Role.PHYSICIAN,
        Role.DENTIST,
        Role.PHARMACIST,
        Role.NURSE,
        Role.EMERGENCY,
        Role.SYSTEM,
        Role.ADMINISTRATOR,
    }
)
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTOR_ROLE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CATEGORY_SYSTEM = "http://tsunagu.jp/fhir/CodeSystem/information-category"


def eligibility(ctx: Context, req: FhirRequest, resource_type: str) -> FhirResponse:
    """POST Coverage/$eligibility."""
    if resource_type != "Coverage":
        raise bad_request(
            "$eligibility は Coverage に対する操作です / $eligibility is an operation on Coverage",
            code="not-supported",
        )
    facility = _caller_facility(ctx, req)
    params = parameters(req.body)
    on = _date_param(params, "date") or datetime.now(JAPAN).date()
    if "credential" in params:
        candidates, ask = _by_credential(ctx, params, on)
    else:
        ask = _request(params, on)
        candidates = _candidates(ctx, ask)
    result = decide(ask, candidates)
    if (
        result.validity is Validity.INVALID
        and result.coverage
        and result.coverage.facts.beneficiary
    ):
        later = _person_coverages(ctx, result.coverage.facts.beneficiary)
        result = decide(ask, candidates, later)
    patient = _patient_id(result)
    consent = None
    if result.validity is Validity.VALID and patient is not None and facility is not None:
        consent = _propose_consent(ctx, patient, facility, on)
    ctx.audit.append(
        AuditRecord(
            action="E",
            subtype="$eligibility",
            outcome=200,
            patients=(patient,) if patient else (),
            entities=tuple(
                ref
                for ref in (
                    result.coverage.reference if result.coverage else None,
                    consent,
                )
                if ref
            ),
            detail=f"validity={int(result.validity)}",
            resource_type="Coverage",
        )
    )
    return FhirResponse(200, answer(result))


# --- input ------------------------------------------------------------------------------


def parameters(body: Any) -> dict[str, Any]:
    """A Parameters body as {name: value[x]} (the last value of a repeated name wins)."""
    if not is_parameters(body):
        raise bad_request("本文は Parameters リソースです / the body must be a Parameters resource")
    found: dict[str, Any] = {}
    for index, parameter in enumerate(body.get("parameter") or []):
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise bad_request(
                "parameter に name がありません / a parameter has no name",
                expression=(f"Parameters.parameter[{index}]",),
            )
        values = [v for k, v in parameter.items() if k.startswith("value") or k == "resource"]
        found[parameter["name"]] = values[0] if values else None
    return found


def _string(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("value"), str):  # valueIdentifier
        return str(value["value"])
    if not isinstance(value, str):
        raise bad_request(
            f"{name} は文字列です / {name} must be a string", expression=(f"Parameters.{name}",)
        )
    return value


def _date_param(params: dict[str, Any], name: str) -> date | None:
    value = _string(params, name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_request(
            f"{name} は YYYY-MM-DD の日付です / {name} must be a date (YYYY-MM-DD)",
            expression=(f"Parameters.{name}",),
        ) from None


def _request(params: dict[str, Any], on: date) -> EligibilityRequest:
    birth = _date_param(params, "birthDate")
    if birth is None:
        raise bad_request(
            "birthDate (生年月日) が必要です / birthDate is required",
            code="required",
            expression=("Parameters.birthDate",),
        )
    try:
        member_id = _string(params, "memberId")
        if member_id is not None:
            return EligibilityRequest.of(parse_member_id(member_id), birth, on)
        insurer, number = _string(params, "insurerNumber"), _string(params, "number")
        if insurer is None or number is None:
            raise bad_request(
                "insurerNumber と number (または memberId か credential) が必要です / "
                "insurerNumber and number (or memberId, or credential) are required",
                code="required",
            )
        member = MemberId.of(
            insurer, _string(params, "symbol") or "", number, _string(params, "branch")
        )
    except IdentifierError as error:
        where = {"insurer": "insurerNumber", "memberId": "memberId"}.get(error.field, error.field)
        raise bad_request(error.message, expression=(f"Parameters.{where}",)) from None
    return EligibilityRequest.of(member, birth, on)


def _caller_facility(ctx: Context, req: FhirRequest) -> str | None:
    """The facility confirming eligibility: the principal's; `facility` only without one."""
    principal = ctx.principal
    params_facility = None
    if isinstance(req.body, dict):
        params_facility = _string(parameters(req.body), "facility")
    if params_facility is not None and facility_prefecture(params_facility) is None:
        raise bad_request(
            "facility は 10 桁の医療機関コードです / facility must be a 10-digit facility code",
            expression=("Parameters.facility",),
        )
    if principal is None:
        return params_facility
    if principal.role not in ALLOWED_ROLES:
        raise FhirError.of(
            403,
            "forbidden",
            "この役割では資格確認できません / this role may not confirm eligibility",
        )
    if params_facility is not None and params_facility != principal.facility:
        raise FhirError.of(
            403,
            "forbidden",
            "facility はトークンの医療機関と一致しません / "
            "facility must be the facility of the access token",
        )
    return principal.facility


def _by_credential(
    ctx: Context, params: dict[str, Any], on: date
) -> tuple[list[Candidate], EligibilityRequest]:
    verify = ctx.verify_credential
    token = _string(params, "credential") or ""
    if verify is None:
        raise bad_request(
            "このサーバでは credential による資格確認を受け付けていません / "
            "this server does not accept credentials for eligibility",
            code="not-supported",
            expression=("Parameters.credential",),
        )
    try:
        principal = verify(token)
    except Exception:  # any failure (bad signature, expired, garbage) is the same answer
        principal = None
    if principal is None or principal.role is not Role.PATIENT or not principal.patient:
        raise FhirError.of(
            401,
            "login",
            "患者の資格情報が無効です / the patient credential is not valid",
            expression=("Parameters.credential",),
        )
    candidates = _person_coverages(ctx, f"Patient/{principal.patient}")
    birth = _birth_date(ctx, f"Patient/{principal.patient}")
    if not candidates:
        return [], EligibilityRequest("", "", "", None, birth, on)
    # Ask about the card of the person's most recent Coverage (a card is what is confirmed).
    latest = max(candidates, key=lambda c: (c.facts.start or date.min, c.reference))
    member = latest.facts.member
    same_card = _candidates(ctx, EligibilityRequest.of(member, birth, on))
    return same_card, EligibilityRequest.of(member, birth, on)


# --- lookups ----------------------------------------------------------------------------


def _search(ctx: Context, criteria: list[tuple[str, str]]) -> list[dict[str, Any]]:
    query = search_query.parse(ctx.registry, ["Coverage"], criteria)
    query = replace(query, count=MAX_CANDIDATES)
    matches = (ctx.session or ctx.repository).search(query)
    return [m.resource.content for m in matches if m.resource.content is not None]


def _candidates(ctx: Context, ask: EligibilityRequest) -> list[Candidate]:
    """Every Coverage on the asked card (all 枝番), with its beneficiary's birth date (read
    only for the Coverages with the asked 枝番, when one was asked and some have it: the
    decision looks at no other birth date)."""
    if not ask.insurer:
        return []
    found = _to_candidates(ctx, _search(ctx, [("identifier", f"{CARD_ID_SYSTEM}|{ask.card}")]))
    wanted = [c for c in found if c.facts.member.branch == ask.branch] if ask.branch else []
    return _with_birth_dates(ctx, found, wanted or found)


def _person_coverages(ctx: Context, patient: str) -> list[Candidate]:
    found = _to_candidates(ctx, _search(ctx, [("beneficiary", patient)]))
    return _with_birth_dates(ctx, found, found)


def _to_candidates(ctx: Context, resources: list[dict[str, Any]]) -> list[Candidate]:
    found = []
    for resource in resources:
        try:
            facts = coverage_facts(resource, check=False)
        except CoverageError:
            continue  # a stored Coverage that is not Japanese insurance: not a candidate
        found.append(Candidate(f"Coverage/{resource.get('id')}", facts))
    return found


def _with_birth_dates(
    ctx: Context, candidates: list[Candidate], needed: list[Candidate]
) -> list[Candidate]:
    births: dict[str, date | None] = {}
    for candidate in needed:
        beneficiary = candidate.facts.beneficiary
        if beneficiary and beneficiary not in births:
            births[beneficiary] = _birth_date(ctx, beneficiary)
    return [
        replace(c, birth_date=births.get(c.facts.beneficiary)) if c.facts.beneficiary else c
        for c in candidates
    ]


def _birth_date(ctx: Context, reference: str) -> date | None:
    kind, _, id = reference.partition("/")
    if kind != "Patient" or not id:
        return None
    stored = (ctx.session or ctx.repository).read("Patient", id)
    content = stored.content if stored else None
    value = content.get("birthDate") if content else None
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _patient_id(result: EligibilityResult) -> str | None:
    beneficiary = result.coverage.facts.beneficiary if result.coverage else None
    if beneficiary and beneficiary.startswith("Patient/"):
        return beneficiary.removeprefix("Patient/")
    return None


# --- the proposed Consent ---------------------------------------------------------------


def consent_resource(patient: str, facility: str, on: date) -> dict[str, Any]:
    """A `proposed` Consent: `facility` may be granted access to the patient's shared data."""
    return {
        "resourceType": "Consent",
        "status": "proposed",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": datetime.now(UTC).isoformat(timespec="seconds"),
        # R4 ppc-1 needs a policy or a policyRule: opt-in sharing.
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
            ]
        },
        "provision": {
            "type": "permit",
            "period": {"start": on.isoformat()},
            "actor": [
                {
                    "role": {"coding": [{"system": CONSENT_ACTOR_ROLE, "code": "IRCP"}]},
                    "reference": {
                        "identifier": {"system": FACILITY_CODE_SYSTEM, "value": facility}
                    },
                }
            ],
            "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": c.value}]} for c in Category],
        },
    }


def _propose_consent(ctx: Context, patient: str, facility: str, on: date) -> str | None:
    """Create the proposed Consent unless the facility has a proposed or active one; returns
    its reference when created. Looked up without a transaction first (the usual case: it
    exists); created under a per-(patient, facility) lock, so it is never doubled."""
    if _has_proposal(ctx, ctx.session or ctx.repository, patient, facility):
        return None
    with ctx.writing() as session:
        session.lock(f"consent-proposal:{patient}:{facility}")
        if _has_proposal(ctx, session, patient, facility):
            return None
        # The server records it (the caller's role may not write Consents) and the facility
        # it concerns owns it. It is built here and is valid (tests/api/test_eligibility.py
        # validates it), so validation is not run again on every first check.
        body = with_facility(consent_resource(patient, facility, on), facility)
        response = write.create(
            replace(ctx, session=session, principal=None, validator=None),
            FhirRequest("POST", "Consent", body=body),
            "Consent",
        )
    stored = response.stored
    return f"Consent/{stored.id}" if stored else None


def _has_proposal(
    ctx: Context, reader: WriteSession | ResourceRepository, patient: str, facility: str
) -> bool:
    query = search_query.parse(
        ctx.registry,
        ["Consent"],
        [("patient", f"Patient/{patient}"), ("status", "proposed,active")],
    )
    matches = reader.search(replace(query, count=MAX_CANDIDATES))
    return any(_consent_facility(m.resource.content) == facility for m in matches)


def _consent_facility(content: dict[str, Any] | None) -> str | None:
    for actor in ((content or {}).get("provision") or {}).get("actor") or []:
        identifier = ((actor or {}).get("reference") or {}).get("identifier") or {}
        if identifier.get("system") == FACILITY_CODE_SYSTEM:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


# --- output -----------------------------------------------------------------------------


def answer(result: EligibilityResult) -> dict[str, Any]:
    """The Parameters answer of one check."""
    out: list[dict[str, Any]] = [
        {
            "name": "validity",
            "valueCoding": {
                "system": VALIDITY_SYSTEM,
                "code": str(int(result.validity)),
                "display": result.validity.display,
            },
        }
    ]
    for reason in result.reasons:
        coding = {"system": REASON_SYSTEM, "code": reason.value, "display": reason.display}
        out.append({"name": "reason", "valueCoding": coding})
    for match in result.matches:
        out.append({"name": "match", "valueReference": {"reference": match.reference}})
    candidate = result.coverage
    if candidate is not None:
        facts = candidate.facts
        out.append({"name": "coverage", "valueReference": {"reference": candidate.reference}})
        if facts.beneficiary:
            out.append({"name": "patient", "valueReference": {"reference": facts.beneficiary}})
        out.append({"name": "memberId", "valueIdentifier": facts.member.identifier()})
        period = {k: v.isoformat() for k, v in (("start", facts.start), ("end", facts.end)) if v}
        if period:
            out.append({"name": "period", "valuePeriod": period})
        insurer = {"system": INSURER_NUMBER_SYSTEM, "value": facts.member.insurer.rjust(8, "0")}
        out.append({"name": "insurer", "valueIdentifier": insurer})
        if facts.insurer_name:
            out.append({"name": "insurerName", "valueString": facts.insurer_name})
        if facts.copay_percent is not None:
            out.append({"name": "copayPercent", "valueInteger": facts.copay_percent})
        if facts.limit is not None and facts.limit.category in LIMIT_CATEGORIES:
            code = facts.limit.category
            coding = {"system": LIMIT_CATEGORY_SYSTEM, "code": code}
            coding["display"] = LIMIT_CATEGORIES[code]
            out.append({"name": "limitCategory", "valueCoding": coding})
        if facts.relationship in RELATIONSHIPS:
            coding = {"system": INSURED_CATEGORY_SYSTEM, "code": str(facts.relationship)}
            coding["display"] = RELATIONSHIPS[str(facts.relationship)]
            out.append({"name": "relationship", "valueCoding": coding})
        if facts.reason_of_loss in LOSS_REASONS:
            code = str(facts.reason_of_loss)
            coding = {"system": LOSS_SYSTEM, "code": code, "display": LOSS_REASONS[code]}
            out.append({"name": "reasonOfLoss", "valueCoding": coding})
    if result.newer is not None:
        out.append(
            {"name": "newerCoverage", "valueReference": {"reference": result.newer.reference}}
        )
    return {"resourceType": "Parameters", "parameter": out}
