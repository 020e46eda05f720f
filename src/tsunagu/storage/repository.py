"""The storage port: what the FHIR interactions need from a database, and nothing more.

Resources are versioned: every write appends a version to the history; a delete appends a
tombstone. `ResourceRepository` has one implementation (`sql.SqlRepository`) with two
dialects that behave identically; `tests/contract/` runs one suite against both.
See: https://hl7.org/fhir/R4/http.html#versioning
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Method = Literal["POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource as stored; `content` is None for a deletion tombstone."""

    resource_type: str
    id: str
    version: int
    last_updated: datetime
    method: Method
    content: dict[str, Any] | None

    @property
    def deleted(self) -> bool:
        return self.content is None


@dataclass(frozen=True, slots=True)
class IdentifierCriterion:
    """Match an identifier; `system=None` means any system, `value=None` any value."""

    system: str | None
    value: str | None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which versions to list, newest first. `resource_type`/`id` narrow the level.

    `since`: versions updated at or after it. `at_start`/`at_end`: versions that were current
    at some moment in [at_start, at_end). `before`: keyset cursor, the `seq` to continue below.
    """

    resource_type: str | None = None
    id: str | None = None
    since: datetime | None = None
    at_start: datetime | None = None
    at_end: datetime | None = None
    before: int | None = None
    count: int = 50


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A version in a history listing, with its position for keyset paging."""

    seq: int
    resource: StoredResource


class WriteSession(Protocol):
    """Reads and writes inside one database transaction: all of it commits, or none of it.

    Reads in a session see the session's own writes. `lock` serialises concurrent sessions that
    touch the same logical key (a resource, or a conditional-create criterion).
    """

    def lock(self, key: str) -> None: ...

    def read(self, resource_type: str, id: str) -> StoredResource | None: ...

    def find(
        self,
        resource_type: str,
        *,
        ids: Sequence[str] = (),
        identifiers: Sequence[IdentifierCriterion] = (),
        after: str | None = None,
        limit: int | None = None,
    ) -> list[StoredResource]: ...

    def save(
        self,
        resource_type: str,
        id: str,
        content: dict[str, Any] | None,
        *,
        method: Method,
        previous: StoredResource | None,
    ) -> StoredResource: ...


class ResourceRepository(Protocol):
    """Versioned resource storage. Reads outside a session see committed data only."""

    def read(self, resource_type: str, id: str) -> StoredResource | None:
        """The current version (possibly a tombstone); None if never created.

        See: https://hl7.org/fhir/R4/http.html#read
        """
        ...

    def vread(self, resource_type: str, id: str, version: int) -> StoredResource | None:
        """One specific version. See: https://hl7.org/fhir/R4/http.html#vread"""
        ...

    def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        """Versions newest first. See: https://hl7.org/fhir/R4/http.html#history"""
        ...

    def find(
        self,
        resource_type: str,
        *,
        ids: Sequence[str] = (),
        identifiers: Sequence[IdentifierCriterion] = (),
        after: str | None = None,
        limit: int | None = None,
    ) -> list[StoredResource]:
        """Current, non-deleted resources matching every criterion, ordered by id.

        `after` and `limit` page through the matches (keyset on id).
        """
        ...

    def count(self, resource_type: str | None = None) -> int:
        """How many current, non-deleted resources there are (of one type, or all)."""
        ...

    def session(self) -> AbstractContextManager[WriteSession]:
        """A write transaction; commits when the block exits normally, else rolls back."""
        ...

    def close(self) -> None: ...


def iter_identifiers(content: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(system, value) pairs of a resource's top-level `identifier` element, for the index."""
    raw = content.get("identifier")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("value"), str):
            system = item.get("system")
            yield (system if isinstance(system, str) else "", item["value"])
