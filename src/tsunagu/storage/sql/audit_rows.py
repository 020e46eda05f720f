"""AuditEvents written straight into their tables, with memoised search index rows.

AuditEvents are the resources written most (one or more per request) and they vary
little: the events of one caller differ in `recorded`, in `entity` (the patient and what was
touched) and seldom elsewhere. The audit store makes them versions of new resources (version 1,
`POST`) whose index rows are built here, mostly reused, and a write session writes them with
its own versions:

- the type's search parameters are grouped by the top-level elements they read (their
  `roots`, as `search.roots` finds them: `agent`, `entity`, `agent`+`entity` for
  `patient`, `recorded`, ...); a parameter's values depend only on those elements;
- each group's rows are computed the generic way (the registry's extractors and the
  parameter modules' rows, exactly as `search.index.index_resource` assembles them) on a
  resource holding only the group's elements, and memoised by their JSON.

When a parameter of the type has no roots (it must always run) or is composite, the generic
indexer runs on the whole event instead. `tests/api/test_audit_rows.py` checks the rows are
those of `index_resource` for many varied events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from tsunagu.fhir.resources import new_id
from tsunagu.search.index import TABLES, IndexRows, index_resource
from tsunagu.search.parameters import MODULES, IndexedParam, IndexingPlan, SearchRegistry
from tsunagu.search.params import token
from tsunagu.storage.repository import StoredResource
from tsunagu.storage.sql.indexing import PendingVersion

AUDIT_TYPE = "AuditEvent"
_MEMO_SIZE = 20_000  # memoised groups of rows; the memo starts afresh when full


@dataclass(frozen=True)
class _Group:
    """Parameters that read the same top-level elements (`roots`)."""

    roots: frozenset[str]
    params: tuple[tuple[str, IndexedParam], ...]  # by code, in index_resource's order
    memo: bool  # worth memoising (values that repeat from event to event)


@dataclass
class _State:
    """What the indexer derived from one plan of the registry (replaced as a whole)."""

    plan: IndexingPlan
    groups: tuple[_Group, ...] | None  # None: use the generic indexer
    memo: dict[tuple[int, bytes], IndexRows] = field(default_factory=dict)
    by_key: dict[str, tuple[int, ...]] = field(default_factory=dict)  # key -> its groups


class AuditIndexer:
    """Index rows of AuditEvents, by groups of parameters, memoised (see the module).
    Safe to share between threads (the writer thread and requests that write)."""

    def __init__(self, registry: SearchRegistry) -> None:
        self._registry = registry
        self._state: _State | None = None

    def rows(self, event: dict[str, Any]) -> IndexRows:
        """The rows (param, grp, *columns) per index table, as `index_resource` gives them."""
        state = self._current()
        groups = state.groups
        if groups is None:
            return index_resource(event, self._registry)
        out: IndexRows = {table: [] for table in TABLES}
        memo = state.memo
        for number, part in enumerate(_parts(state, event)):
            if part is None:
                continue
            part["resourceType"] = event["resourceType"]
            group = groups[number]
            if not group.memo:
                _evaluate(out, group.params, part)
                continue
            key = (number, orjson.dumps(part))
            found = memo.get(key)
            if found is None:
                found = {table: [] for table in TABLES}
                _evaluate(found, group.params, part)
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[key] = found
            for table, rows in found.items():
                if rows:
                    out[table].extend(rows)
        return out

    @property
    def generic(self) -> bool:
        """Whether whole events go through the generic indexer (the type's parameters cannot
        be grouped)."""
        return self._current().groups is None

    def _current(self) -> _State:
        plan = self._registry.indexing(AUDIT_TYPE)  # a new plan when custom parameters change
        state = self._state
        if state is None or state.plan is not plan:
            state = self._state = _State(plan, _groups(plan))
        return state


def _parts(state: _State, event: dict[str, Any]) -> list[dict[str, Any] | None]:
    """For each group, the event's elements its roots name (`meta.tag` is meta's `tag`), or
    None when it has none."""
    assert state.groups is not None
    parts: list[dict[str, Any] | None] = [None] * len(state.groups)
    for key, value in event.items():
        if key == "meta" and isinstance(value, dict):
            for name, item in value.items():
                for number in _numbers(state, f"meta.{name}"):
                    part = parts[number]
                    if part is None:
                        part = parts[number] = {}
                    part.setdefault("meta", {})[name] = item
            continue
        for number in _numbers(state, key):
            part = parts[number]
            if part is None:
                part = parts[number] = {}
            part[key] = value
    return parts


def _numbers(state: _State, key: str) -> tuple[int, ...]:
    """The groups whose roots name a key: itself, or its choice-type base name (`valueQuantity`
    is `value`), as `search.roots.element_names` matches them."""
    found = state.by_key.get(key)
    if found is None:
        names = {key} | {key[:i] for i in range(1, len(key)) if key[i].isupper()}
        groups = state.groups or ()
        found = tuple(n for n, g in enumerate(groups) if not names.isdisjoint(g.roots))
        state.by_key[key] = found
    return found


def _groups(plan: IndexingPlan) -> tuple[_Group, ...] | None:
    """The plan's parameters grouped by their roots; None when the generic indexer must run
    (a parameter without roots, a composite, a root inside an element other than meta)."""
    if plan.always:
        return None
    by_roots: dict[frozenset[str], dict[str, IndexedParam]] = {}
    for params in plan.by_root.values():
        for code, param in params:
            if param.components or param.roots is None or param.type not in MODULES:
                return None
            if any("." in r and not r.startswith("meta.") for r in param.roots):
                return None
            by_roots.setdefault(param.roots, {})[code] = param
    return tuple(
        # Dates (`recorded`) differ in every event: not worth remembering.
        _Group(roots, tuple(sorted(p.items())), memo=all(x.type != "date" for x in p.values()))
        for roots, p in sorted(by_roots.items(), key=lambda item: sorted(item[0]))
    )


def _evaluate(
    out: IndexRows, params: tuple[tuple[str, IndexedParam], ...], part: dict[str, Any]
) -> None:
    """The rows of these (non-composite) parameters, assembled as `index_resource` does."""
    for code, param in params:
        extractor = param.extractor
        assert extractor is not None
        values = extractor(part)
        if not values:
            continue
        module = MODULES[param.type]
        rows = out[module.TABLE]
        rows.extend((code, None, *row) for row in module.rows(values))
        if module is token:
            rows.extend((code + token.OF_TYPE, None, *row) for row in token.of_type_rows(values))


def audit_versions(indexer: AuditIndexer, events: Sequence[dict[str, Any]]) -> list[PendingVersion]:
    """New AuditEvents as versions to write (each with an id, meta.versionId 1 and
    meta.lastUpdated) and their index rows."""
    versions: list[PendingVersion] = []
    for event in events:
        now = datetime.now(UTC)
        event_id = new_id()
        meta = dict(event.get("meta") or {})
        meta["versionId"] = "1"
        meta["lastUpdated"] = now.isoformat()
        content = {
            "resourceType": AUDIT_TYPE,
            "id": event_id,
            "meta": meta,
            **{k: v for k, v in event.items() if k not in ("resourceType", "id", "meta")},
        }
        stored = StoredResource(AUDIT_TYPE, event_id, 1, now, "POST", content)
        versions.append(PendingVersion(stored, replaces=False, rows=indexer.rows(content)))
    return versions
