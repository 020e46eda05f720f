"""The storage port: what the FHIR interactions need from a database, and nothing more.

Resources are versioned: every write appends a version to the history; a delete appends a
tombstone. `ResourceRepository` has one implementation (`sql.SqlRepository`) with two
dialects that behave identically; `tests/contract/` runs one suite against both.
See: https://hl7.org/fhir/R4/http.html#versioning
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from tsunagu.fhir import jsonio
from tsunagu.search.plan import Cursor
from tsunagu.search.query import AccessFilter, Include, SearchQuery
from tsunagu.storage.access import AccessGrant

Method = Literal["POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource as stored; `content` is None for a deletion tombstone.

    A store may give the JSON text it holds (`body` a string, in the form this server writes)
    instead of the parsed resource: it is parsed when `content` is first asked for, and until
    then `text` lets a response send it as it is.
    """

    resource_type: str
    id: str
    version: int
    last_updated: datetime
    method: Method
    body: dict[str, Any] | str | None

    @property
    def content(self) -> dict[str, Any] | None:
        body = self.body
        if isinstance(body, str):
            body = jsonio.loads(body)
            object.__setattr__(self, "body", body)  # parsed once: a cache, not a change
        return body

    @property
    def text(self) -> str | None:
        """The stored JSON text, while nothing has parsed it."""
        return self.body if isinstance(self.body, str) else None

    @property
    def deleted(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class Match:
    """A search result: the stored resource, its key and its sort values (for the cursor)."""

    key: int
    resource: StoredResource
    sort_values: tuple[Any, ...] = ()
    # The patient whose compartment it is in, from the stored access facts, when they tell
    # it alone (one local patient); None: ask the resource itself.
    patients: frozenset[str] | None = None


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

    def search(self, query: SearchQuery, cursor: Cursor | None = None) -> list[Match]: ...

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

    def search(self, query: SearchQuery, cursor: Cursor | None = None) -> list[Match]:
        """One page of matches (up to `query.count + 1` rows, to tell if more follow).

        Rows come nearest to the cursor first: for a backwards cursor, in reverse order.

        See: https://hl7.org/fhir/R4/search.html
        """
        ...

    def count_matches(self, query: SearchQuery) -> int:
        """How many resources match (for `_total=accurate` and `_summary=count`)."""
        ...

    def include(
        self, matches: Sequence[Match], include: Include, access: AccessFilter | None = None
    ) -> list[Match]:
        """Resources that `_include` / `_revinclude` add for the given matches (only those
        `access` lets the caller see, when given)."""
        ...

    def is_visible(self, resource_type: str, id: str, access: AccessFilter) -> bool:
        """Whether the current version exists, is not deleted and `access` lets the caller
        see it (the predicate searches apply)."""
        ...

    def has_grant(
        self, *, facility: str, subject: str, patient: str, category: str | None, at: datetime
    ) -> bool:
        """Whether an access grant (consent, break-glass) valid at `at` lets `facility` (or
        `subject` there) see `category` (any, when None) of `patient`'s data."""
        ...

    def add_grants(self, grants: Sequence[AccessGrant]) -> None:
        """Store access grants (break-glass) in their own transaction."""
        ...

    def reindex(
        self,
        resource_types: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None,
        params: Sequence[str] = (),
    ) -> int:
        """Recompute the search index of current resources (only the rows of `params`, if
        given); returns how many were indexed."""
        ...

    def reindex_type(
        self,
        param_type: str,
        resource_types: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """`reindex` of the parameters of one type (`date`); ValueError if there is none."""
        ...

    def pending_rebuilds(self) -> dict[str, str]:
        """Parameter types whose rows an upgrade changed and a rebuild still owes (reason)."""
        ...

    def prune_index(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Delete index rows that no search parameter writes any more; returns how many."""
        ...

    def count(self, resource_type: str | None = None) -> int:
        """How many current, non-deleted resources there are (of one type, or all)."""
        ...

    def session(self) -> AbstractContextManager[WriteSession]:
        """A write transaction; commits when the block exits normally, else rolls back."""
        ...

    def close(self) -> None: ...
