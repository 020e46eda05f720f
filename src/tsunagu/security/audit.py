"""What happened, as one audit record (IHE BALP shaped); turned into an AuditEvent on write.

Records are collected per request in `Context.audit` (by `interactions.audit` and by anyone
with something to add, such as a break-glass declaration or a token issuance) and turned into
FHIR AuditEvents by `security.audit_event`.
"""

from __future__ import annotations

from dataclasses import dataclass

# AuditEvent.action codes (R4): C create, R read, U update, D delete, E execute.
Action = str
ACTIONS = frozenset({"C", "R", "U", "D", "E"})


@dataclass(frozen=True)
class AuditRecord:
    """One audited act. `subtype` is the interaction or operation (`read`, `search-type`,
    `$everything`, `transaction`, `token` ...); `outcome` the HTTP status; `patients` the
    Patient ids concerned; `entities` the references touched (`Observation/1/_history/2`);
    `purpose` a v3 PurposeOfUse code (TREAT, ETREAT ...), None for the role's default.

    `resource_type` is the type the interaction was on; `query` the request's query string
    (searches): it may hold personal data, so it goes to the protected audit store only,
    never to a log. `detail` is a short free text without personal data.
    """

    action: Action
    subtype: str
    outcome: int
    patients: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    purpose: str | None = None
    detail: str | None = None
    resource_type: str | None = None
    query: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome >= 400
