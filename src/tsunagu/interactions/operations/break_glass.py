"""Patient/$break-glass: open a patient's emergency summary without consent, for a while.

An emergency team member (救急隊) or a physician declares an emergency with a reason. The
caller (this subject, at its facility) may then read the emergency-summary categories
(allergies, contraindications, diagnoses, prescriptions, infections) of the patient for
`break_glass_hours` (setting, 4 h by default). The declaration is stored with its reason and
audited with purpose of use ETREAT, so the patient sees it in their access history.
See docs/security.md#break-glass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tsunagu.fhir.datatypes import format_instant
from tsunagu.fhir.outcomes import bad_request, not_found
from tsunagu.fhir.parameters import is_parameters, named_parameters
from tsunagu.interactions.context import Context, FhirRequest, FhirResponse
from tsunagu.interactions.read import require_id
from tsunagu.security.audit import AuditRecord
from tsunagu.security.policy import forbidden
from tsunagu.security.principal import Role
from tsunagu.security.resource_categories import EMERGENCY_SUMMARY
from tsunagu.settings import Settings
from tsunagu.storage.access import AccessGrant

ALLOWED_ROLES = frozenset({Role.EMERGENCY, Role.PHYSICIAN})
MAX_REASON = 1000
PURPOSE = "ETREAT"  # v3 PurposeOfUse: emergency treatment
DEFINITION: dict[str, Any] = {
    "resourceType": "OperationDefinition",
    "id": "tsunagu-break-glass",
    "url": "urn:tsunagu:OperationDefinition/break-glass",
    "name": "break-glass",
    "status": "active",
    "kind": "operation",
    "code": "break-glass",
    "resource": ["Patient"],
    "system": False,
    "type": False,
    "instance": True,
    "parameter": [
        {"name": "reason", "use": "in", "min": 1, "max": "1", "type": "string"},
        {"name": "expires", "use": "out", "min": 1, "max": "1", "type": "instant"},
        {"name": "category", "use": "out", "min": 1, "max": "*", "type": "code"},
    ],
}


def break_glass(ctx: Context, req: FhirRequest, resource_type: str, id: str) -> FhirResponse:
    """Grant the caller time-limited access to the patient's emergency summary."""
    if resource_type != "Patient":
        raise bad_request(
            "$break-glass は Patient にのみ使えます / $break-glass applies to Patient only"
        )
    require_id(id)
    principal = ctx.principal
    if principal is None:
        raise bad_request(
            "開発モード (--insecure-dev) ではアクセス制御がないため不要です / "
            "there is no access control to break in --insecure-dev mode"
        )
    if principal.role not in ALLOWED_ROLES or not principal.facility:
        raise forbidden(
            "緊急時の閲覧 (break-glass) は救急隊と医師だけが行えます",
            "only an emergency team or a physician of a facility may break the glass",
        )
    reason = _reason(req)
    stored = ctx.repository.read("Patient", id)
    if stored is None or stored.deleted:
        raise not_found(f"Patient/{id} は存在しません / resource Patient/{id} is not known")
    now = datetime.now(UTC)
    expires = now + timedelta(hours=Settings().break_glass_hours)
    categories = sorted(c.value for c in EMERGENCY_SUMMARY)
    ctx.repository.add_grants(
        [
            AccessGrant(
                "break-glass",
                id,
                principal.facility,
                category,
                now,
                expires,
                subject=principal.subject,
                reason=reason,
            )
            for category in categories
        ]
    )
    ctx.audit.append(
        AuditRecord(
            action="E",
            subtype="$break-glass",
            outcome=200,
            patients=(id,),
            entities=(f"Patient/{id}",),
            purpose=PURPOSE,
            detail="break-glass",
        )
    )
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "patient", "valueReference": {"reference": f"Patient/{id}"}},
            {"name": "expires", "valueInstant": format_instant(expires)},
            *({"name": "category", "valueCode": c} for c in categories),
        ],
    }
    return FhirResponse(200, body)


def _reason(req: FhirRequest) -> str:
    """The declared reason, from a Parameters body or the `reason` query parameter."""
    reason = req.param("reason")
    body = req.body
    if is_parameters(body):
        for name, parameter in named_parameters(body):
            if name == "reason":
                value = parameter.get("valueString")
                reason = value if isinstance(value, str) else None
    if reason is None or not reason.strip():
        raise bad_request(
            "緊急時の閲覧には理由 (reason) が必要です / break-glass needs a reason",
            expression=("reason",),
        )
    if len(reason) > MAX_REASON:
        raise bad_request(
            f"理由は {MAX_REASON} 文字以内です / the reason is limited to {MAX_REASON} characters",
            expression=("reason",),
        )
    return reason.strip()
