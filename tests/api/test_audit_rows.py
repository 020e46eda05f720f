"""AuditEvents' index rows from the audit store's memoised indexer are exactly those of the
generic indexer (`search.index.index_resource`), for many varied events; and events stored
by the audit store are found by the ordinary search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsunagu.fhir.definitions import SearchParameterDef, SearchParamType, load_definitions
from tsunagu.search.index import IndexRows, index_resource
from tsunagu.search.parameters import SearchRegistry
from tsunagu.security.audit import AuditRecord
from tsunagu.security.audit_event import Observer, RequestFacts, audit_events
from tsunagu.security.principal import Principal, Role
from tsunagu.storage.sql.audit_rows import AuditIndexer

_REGISTRY = SearchRegistry(load_definitions())
_INDEXER = AuditIndexer(_REGISTRY)  # shared: its memo fills up across examples, as in a server

_IDS = st.sampled_from(["p1", "p2", "sec-000001", "山田", "a.b-c"])
_SUBTYPES = st.sampled_from(
    ["read", "vread", "search-type", "search-system", "history-instance", "create", "update",
     "delete", "transaction", "batch", "$everything", "$break-glass", "token", "authenticate",
     "custom-thing"]
)  # fmt: skip
_REFERENCES = st.sampled_from(
    ["Observation/o1/_history/2", "Patient/p1/_history/1", "Patient/p2", "Basic/x",
     "urn:uuid:1234", "http://example.org/fhir/Patient/p9", "Condition/c1"]
)  # fmt: skip
_TEXT = st.text(max_size=30)


@st.composite
def _records(draw: st.DrawFn) -> AuditRecord:
    return AuditRecord(
        action=draw(st.sampled_from(["C", "R", "U", "D", "E"])),
        subtype=draw(_SUBTYPES),
        outcome=draw(st.sampled_from([200, 201, 304, 400, 401, 403, 404, 500, 503])),
        patients=tuple(draw(st.lists(_IDS, max_size=3))),
        entities=tuple(draw(st.lists(_REFERENCES, max_size=3))),
        purpose=draw(st.none() | st.sampled_from(["TREAT", "ETREAT"])),
        detail=draw(st.none() | _TEXT),
        resource_type=draw(st.none() | st.sampled_from(["Patient", "Observation"])),
        query=draw(st.none() | _TEXT),
    )


@st.composite
def _principals(draw: st.DrawFn) -> Principal | None:
    if draw(st.booleans()):
        return None
    role = draw(st.sampled_from(list(Role)))
    subject = draw(st.sampled_from(["dr-1", "emr-a", "p1", "client-x"]))
    return Principal(
        subject=subject,
        role=role,
        client_id=draw(st.sampled_from([subject, "emr-a", "app-9"])),
        facility=draw(st.none() | st.sampled_from(["1318814790", "4312345678"])),
        patient=draw(st.none() | _IDS),
        scopes=("user/*.rs",),
        token_id=draw(st.sampled_from(["", "jti-1", "jti-2"])),
    )


def _stored(event: dict[str, Any], moment: datetime) -> dict[str, Any]:
    """The event as the store saves it (id, meta.versionId, meta.lastUpdated)."""
    meta = {**(event.get("meta") or {}), "versionId": "1", "lastUpdated": moment.isoformat()}
    return {"resourceType": "AuditEvent", "id": "e1", "meta": meta, **event}


def _sorted(rows: IndexRows) -> dict[str, list[str]]:
    return {table: sorted(map(repr, found)) for table, found in rows.items() if found}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    _records(),
    _principals(),
    st.none() | st.sampled_from(["127.0.0.1", "::1", "10.0.0.7"]),
    st.booleans(),
    st.integers(min_value=0, max_value=10**9),
)
def test_memoised_rows_are_the_generic_indexers(
    record: AuditRecord,
    principal: Principal | None,
    address: str | None,
    unauthenticated: bool,
    micros: int,
) -> None:
    assert not _INDEXER.generic  # the R4 AuditEvent parameters are grouped and memoised
    moment = datetime(2025, 4, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    facts = RequestFacts(moment, address, unauthenticated=unauthenticated)
    for event in audit_events(record, principal, facts, Observer()):
        content = _stored(event, moment)
        assert _sorted(_INDEXER.rows(content)) == _sorted(index_resource(content, _REGISTRY))


def test_a_patients_own_access_is_found_through_agent_and_entity() -> None:
    # agent.who and entity.what both name Patient/p1. `patient` is their union restricted to
    # Patients (`search.aliases`): it writes no rows, its searches read these two.
    patient = Principal("p1", Role.PATIENT, "app", patient="p1", token_id="jti-1")
    record = AuditRecord("R", "read", 200, ("p1",), ("Patient/p1/_history/1",))
    facts = RequestFacts(datetime(2025, 4, 1, tzinfo=UTC), "::1")
    (event,) = audit_events(record, patient, facts, Observer())
    content = _stored(event, facts.recorded)
    rows = _INDEXER.rows(content)
    naming = sorted(row[0] for row in rows["search_reference"] if row[2:4] == ("Patient", "p1"))
    assert naming == ["agent", "entity"]
    assert _sorted(rows) == _sorted(index_resource(content, _REGISTRY))


@pytest.mark.parametrize(
    "event",
    [
        {  # the shape tests of the store use: not one the server builds
            "resourceType": "AuditEvent",
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type"},
            "action": "R",
            "recorded": "2025-04-01T00:00:00+00:00",
            "outcome": "0",
            "agent": [{"requestor": True, "who": {"display": "agent 1"}, "name": "山田"}],
            "source": {"observer": {"display": "test"}},
            "entity": [{"what": {"reference": "Patient/p1"}, "name": "x"}],
        },
        {"resourceType": "AuditEvent", "meta": {"profile": ["http://x/p"], "source": "s"}},
        {"resourceType": "AuditEvent", "agent": [{"altId": "a1", "policy": ["u1", "u2"]}]},
    ],
)
def test_other_shapes_index_alike(event: dict[str, Any]) -> None:
    content = _stored(event, datetime(2025, 4, 1, tzinfo=UTC))
    for _ in range(2):  # computed, then memoised
        assert _sorted(_INDEXER.rows(content)) == _sorted(index_resource(content, _REGISTRY))


@pytest.mark.parametrize(
    ("expression", "generic"),
    [
        ("AuditEvent.outcomeDesc", False),  # a new group of its own
        ("AuditEvent.agent.who | AuditEvent.outcomeDesc", False),  # joins agent's params
        ("AuditEvent.purposeOfEvent.exists()", True),  # no roots: must run on every event
    ],
)
def test_custom_parameters_follow_the_registry(expression: str, generic: bool) -> None:
    registry = SearchRegistry(load_definitions())
    indexer = AuditIndexer(registry)
    record = AuditRecord("R", "search-type", 200, ("p1",), (), query="patient=p1")
    principal = Principal("dr-1", Role.PHYSICIAN, "emr", facility="1318814790")
    facts = RequestFacts(datetime(2025, 4, 1, tzinfo=UTC), "10.0.0.7")
    (event,) = audit_events(record, principal, facts, Observer())
    content = _stored(event, facts.recorded)
    assert _sorted(indexer.rows(content)) == _sorted(index_resource(content, registry))
    kind: SearchParamType = "token" if expression.endswith("exists()") else "string"
    custom = SearchParameterDef(
        "http://example.org/sp", "custom", ("AuditEvent",), kind, expression
    )
    registry.set_custom([custom])  # as `$reindex` does: a new plan, seen at the next event
    assert indexer.generic is generic
    rows = indexer.rows(content)
    assert _sorted(rows) == _sorted(index_resource(content, registry))
    assert any(row[0] == "custom" for found in rows.values() for row in found)
