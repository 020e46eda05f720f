"""What happened, as one audit record (IHE BALP shaped); turned into an AuditEvent on write.

Records are collected per request in `Context.audit` (by `interactions.audit` and by anyone
with something to add, such as a break-glass declaration or a token issuance) and turned into
FHIR AuditEvents by `security.audit_event`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

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


# Resources one combined record may list: an AuditEvent stays a readable size when a
# transaction writes thousands of resources of one patient.
MAX_ENTITIES = 100


def combined(records: Iterable[AuditRecord], limit: int = MAX_ENTITIES) -> list[AuditRecord]:
    """The records, with those that differ only in their entities joined into one (at most
    `limit` entities each), in the order each first appears. Without a query, the type
    acted on does not tell records apart: the entities name it.

    A transaction Bundle records each entry; its creates for one patient thus become one
    AuditEvent listing them all (BALP's one event per patient), not one event per resource.
    Records without entities (searches, the Bundle's own) stay as they are."""
    result: list[AuditRecord] = []
    open_: dict[AuditRecord, int] = {}  # entity-less key -> index of its record in result
    for record in records:
        if not record.entities:
            result.append(record)
            continue
        kind = record.resource_type if record.query is not None else None
        key = replace(record, entities=(), resource_type=kind)
        at = open_.get(key)
        if at is not None and len(result[at].entities) + len(record.entities) <= limit:
            joined = result[at].entities + record.entities
            result[at] = replace(result[at], entities=tuple(dict.fromkeys(joined)))
            continue
        open_[key] = len(result)
        result.append(record)
    return result
