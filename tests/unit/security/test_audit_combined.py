"""A transaction's records that differ only in their entities become one, pure."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from tsunagu.security.audit import AuditRecord, combined


def _create(patient: str, *entities: str, resource_type: str = "Observation") -> AuditRecord:
    return AuditRecord("C", "create", 201, (patient,), entities, resource_type=resource_type)


def test_one_patients_creates_become_one_record_listing_them_in_order() -> None:
    records = [
        _create("p1", "Patient/p1/_history/1", resource_type="Patient"),
        _create("p1", "Observation/o1/_history/1"),
        _create("p2", "Observation/o2/_history/1"),
        _create("p1", "Observation/o3/_history/1"),
        AuditRecord("E", "transaction", 200),
    ]
    assert combined(records) == [
        _create(
            "p1",
            "Patient/p1/_history/1",
            "Observation/o1/_history/1",
            "Observation/o3/_history/1",
            resource_type="Patient",
        ),
        _create("p2", "Observation/o2/_history/1"),
        AuditRecord("E", "transaction", 200),
    ]


def test_records_that_differ_in_more_than_their_entities_stay_apart() -> None:
    records = [
        _create("p1", "Observation/o1/_history/1"),
        AuditRecord("U", "update", 200, ("p1",), ("Observation/o2/_history/2",)),
        AuditRecord("C", "create", 201, ("p1", "p2"), ("Observation/o3/_history/1",)),
        AuditRecord("C", "create", 201, ("p1",), ("Observation/o4/_history/1",), purpose="ETREAT"),
    ]
    assert combined(records) == records


def test_searches_of_different_types_stay_apart_and_entity_less_records_are_kept() -> None:
    search = AuditRecord("R", "search-type", 200, ("p1",), (), resource_type="Observation")
    records = [
        search,
        search,
        AuditRecord("R", "read", 200, ("p1",), ("Observation/o1",), "TREAT", None, "A", "q"),
        AuditRecord("R", "read", 200, ("p1",), ("Observation/o2",), "TREAT", None, "B", "q"),
    ]
    assert combined(records) == records


def test_a_record_takes_at_most_the_limit_of_entities() -> None:
    records = [_create("p1", f"Observation/o{n}/_history/1") for n in range(7)]
    assert [len(r.entities) for r in combined(records, limit=3)] == [3, 3, 1]


_records = st.lists(
    st.builds(
        AuditRecord,
        action=st.sampled_from(["C", "U"]),
        subtype=st.sampled_from(["create", "update"]),
        outcome=st.sampled_from([200, 201]),
        patients=st.lists(st.sampled_from(["p1", "p2"]), max_size=2, unique=True).map(tuple),
        entities=st.lists(st.sampled_from(["A/1", "A/2", "B/1", "B/2"]), max_size=2).map(tuple),
        resource_type=st.sampled_from(["A", "B"]),
        query=st.sampled_from([None, "x=1"]),
    ),
    max_size=30,
)


@given(_records, st.integers(min_value=1, max_value=5))
def test_combining_loses_no_act_and_respects_the_limit(
    records: list[AuditRecord], limit: int
) -> None:
    def key(r: AuditRecord) -> tuple[object, ...]:
        kind = r.resource_type if r.query is not None else None
        return (r.action, r.subtype, r.outcome, r.patients, r.purpose, r.detail, kind, r.query)

    def acts(rs: list[AuditRecord]) -> dict[tuple[object, ...], set[str]]:
        found: dict[tuple[object, ...], set[str]] = defaultdict(set)
        for r in rs:
            found[key(r)].update(r.entities)
        return found

    result = combined(records, limit)
    assert acts(result) == acts(records)
    # Entity-less records pass through unchanged and in order.
    assert [r for r in result if not r.entities] == [r for r in records if not r.entities]
    for r in result:
        single = any(len(s.entities) > limit and s.entities == r.entities for s in records)
        assert len(r.entities) <= limit or single
    assert len(result) <= len(records)
    # Each key opens records in its first appearance's place: one per limit's worth at least.
    for k, entities in acts(records).items():
        if entities and all(len(r.entities) <= limit for r in records if key(r) == k):
            joined = [r for r in result if key(r) == k and r.entities]
            assert len(joined) >= -(-len(entities) // limit)
