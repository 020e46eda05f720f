"""What happened, as one audit record (IHE BALP shaped); turned into an AuditEvent on write."""

from __future__ import annotations

from dataclasses import dataclass

# AuditEvent.action codes (R4): C create, R read, U update, D delete, E execute.
Action = str


@dataclass(frozen=True)
class AuditRecord:
    """One audited act. `subtype` is the interaction or operation (`read`, `search-type`,
    `$eligibility` ...); `outcome` the HTTP status; `patients` the Patient ids concerned;
    `entities` the references touched; `purpose` a v3 PurposeOfUse code (TREAT, ETREAT ...)."""

    action: Action
    subtype: str
    outcome: int
    patients: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    purpose: str | None = None
    detail: str | None = None
