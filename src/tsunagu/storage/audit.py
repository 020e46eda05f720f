"""The audit store port: AuditEvents appended to the hash chain, in a write or on their own.

`append` writes inside a write session, so the events of a write commit or roll back with it.
`submit` writes events that have no transaction of their own (reads, searches, denials) in a
transaction of the store; `SqlAuditStore` groups concurrent submissions into one commit.
`verify` proves the chain (`security.audit_chain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tsunagu.security.audit_chain import ChainReport
from tsunagu.storage.repository import WriteSession


class AuditFailure(RuntimeError):
    """The audit store could not record events (the request must not succeed silently)."""


class AuditTrail(Protocol):
    """Where AuditEvents go. Events are AuditEvent resources without id and meta."""

    def append(self, session: WriteSession, events: Sequence[dict[str, Any]]) -> None:
        """Store and chain the events inside `session`'s transaction."""
        ...

    def submit(self, events: Sequence[dict[str, Any]]) -> None:
        """Store and chain the events in the store's own transaction. Waits for the commit
        when the store is durable (the default); raises AuditFailure if it failed."""
        ...

    def flush(self) -> None:
        """Return once every event submitted so far is committed."""
        ...

    def entries(self, after: int = 0, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        """Stored AuditEvents in chain order after link `after`, with their sequence numbers."""
        ...

    def verify(self) -> ChainReport:
        """Check the whole chain against the stored events."""
        ...

    def close(self) -> None:
        """Flush and stop any background writer."""
        ...
