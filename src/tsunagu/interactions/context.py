"""The values every interaction handler works with: request, response and context."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tsunagu.fhir.datatypes import format_http_date
from tsunagu.fhir.definitions import Definitions
from tsunagu.search.parameters import SearchRegistry
from tsunagu.security.audit import AuditRecord
from tsunagu.security.principal import Principal
from tsunagu.storage.audit import AuditTrail
from tsunagu.storage.repository import ResourceRepository, StoredResource, WriteSession
from tsunagu.validation import ResourceValidator


@dataclass(frozen=True)
class FhirRequest:
    """A FHIR interaction, as parsed from HTTP or from a Bundle entry.

    `path` is relative to the FHIR base (`Patient/1/_history/2`); `headers` have lower-case
    names; `body` is the parsed JSON (or None).
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    # Set by a transaction for a POST whose id it reserved (so other entries can refer to it).
    assigned_id: str | None = None

    def param(self, name: str) -> str | None:
        """The last value of a query parameter, or None."""
        for key, value in reversed(self.query):
            if key == name:
                return value
        return None

    def prefer(self, token: str) -> str | None:
        """The value of one `Prefer` preference (e.g. `return`, `handling`)."""
        for part in self.headers.get("prefer", "").split(";"):
            for item in part.split(","):
                key, _, value = item.strip().partition("=")
                if key.strip().lower() == token:
                    return value.strip().strip('"')
        return None


@dataclass
class FhirResponse:
    """The result of an interaction: status, body (a resource) and headers."""

    status: int
    resource: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # The stored version the response is about, for Bundle entry responses.
    stored: StoredResource | None = None
    # A searchset's resources ("Type/id") whose patients storage knows already, for the audit.
    patients: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Context:
    """What a handler may use: storage, definitions, the base URL, and an open transaction.

    Inside a transaction Bundle `session` is set, and every handler reads and writes through it
    so that the whole Bundle commits or rolls back together.
    """

    repository: ResourceRepository
    definitions: Definitions
    registry: SearchRegistry
    base_url: str
    session: WriteSession | None = None
    # The authenticated caller; None only in --insecure-dev mode (no access control).
    principal: Principal | None = None
    # Validates every written resource; None disables validation.
    validator: ResourceValidator | None = None
    # Audit records of this request, written by the audit layer when the request ends.
    audit: list[AuditRecord] = field(default_factory=list)
    # Where AuditEvents go (`interactions.audit`); None: requests are not audited (CLI load).
    audit_trail: AuditTrail | None = None
    # The caller's network address, for AuditEvent.agent.network.
    client_address: str | None = None
    # Verifies a patient credential (a patient access token) and returns its principal;
    # None where no credentials are accepted (the CLI).
    verify_credential: Callable[[str], Principal] | None = None

    @contextmanager
    def writing(self) -> Iterator[WriteSession]:
        """The open transaction, or a new one that commits when the block ends."""
        if self.session is not None:
            yield self.session
        else:
            with self.repository.session() as session:
                yield session

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"


def version_headers(stored: StoredResource, base_url: str) -> dict[str, str]:
    """ETag, Last-Modified and Content-Location of a stored version."""
    return {
        "etag": f'W/"{stored.version}"',
        "last-modified": format_http_date(stored.last_updated),
        "content-location": (
            f"{base_url}/{stored.resource_type}/{stored.id}/_history/{stored.version}"
        ),
    }
