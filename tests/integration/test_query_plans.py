"""Both databases use the partial lookup indexes (migrations 7 and 10) for the searches that
need them.

The indexes hold only rows that have the looked-up value (`text`, `ident_value`,
`target_id`); a database uses such an index only when it can prove the query's condition
implies that. These tests read each database's own plan for the searches that rely on them.
PostgreSQL is told to avoid sequential scans (its tables are empty here), so the plan shows
which index it can use rather than what is cheapest on no rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from tests.integration.test_sorted_walk_pages import _plan as plan_without_sorts
from tsunagu.search.plan import page_query
from tsunagu.search.query import Compartment, Include, SearchQuery, parse
from tsunagu.search.sql import Fragment
from tsunagu.storage.repository import Match, StoredResource
from tsunagu.storage.sql.repository import SqlRepository
from tsunagu.storage.sql.searching import include_queries, spread


def _plan(repo: SqlRepository, query: SearchQuery | Fragment) -> str:
    d = repo.dialect
    if isinstance(query, SearchQuery):
        query = page_query(query, None, 11)
    sql, params = spread(d, query)
    with d.reader() as conn:
        if d.name == "postgresql":
            conn.execute("SET LOCAL enable_seqscan = off")
            rows = conn.execute(f"EXPLAIN {d.sql(sql)}", params).fetchall()
        else:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {d.sql(sql)}", params).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


def test_text_search_uses_the_partial_text_index(repo: SqlRepository) -> None:
    query = parse(repo.registry, ["Observation"], [("code:text", "glucose")])
    assert "search_token_lookup1" in _plan(repo, query)


def test_reference_identifier_search_uses_the_partial_identifier_index(
    repo: SqlRepository,
) -> None:
    query = parse(repo.registry, ["Observation"], [("subject:identifier", "urn:oid:1.2.3|12345")])
    assert "search_reference_lookup1" in _plan(repo, query)


def test_compartment_search_uses_the_partial_target_index(repo: SqlRepository) -> None:
    # Several types, as `$everything` asks: rows are found by target, then by (type, param).
    query = parse(repo.registry, ["Condition", "Observation"], [])
    members = (("Condition", ("patient",)), ("Observation", ("subject", "performer")))
    compartment = Compartment("Patient", "p1", members)
    plan = _plan(repo, replace(query, compartment=compartment))
    assert "search_reference_target" in plan


def test_compartment_of_audit_events_uses_the_type_and_param_index(repo: SqlRepository) -> None:
    # AuditEvents' reference rows are not in the target index (migration 10).
    query = parse(repo.registry, ["AuditEvent"], [])
    compartment = Compartment("Patient", "p1", (("AuditEvent", ("entity", "agent")),))
    plan = _plan(repo, replace(query, compartment=compartment))
    assert "search_reference_lookup0" in plan
    assert "search_reference_target" not in plan


def _revinclude(repo: SqlRepository, source: str) -> list[str]:
    """The plan of each statement of `_revinclude={source}:*` on one Patient."""
    patient = StoredResource("Patient", "p1", 1, datetime.now(UTC), "PUT", {})
    include = Include(source, None, None, iterate=False, reverse=True)
    queries = include_queries([Match(1, patient)], include, None, ("agent", "entity"))
    return [_plan(repo, query) for query in queries]


def test_reverse_includes_find_other_types_by_target_and_audit_events_by_param(
    repo: SqlRepository,
) -> None:
    others, audit = _revinclude(repo, "*")
    assert "search_reference_target" in others
    assert "search_reference_lookup0" in audit
    [observations] = _revinclude(repo, "Observation")
    assert "search_reference_target" in observations
    [audit_only] = _revinclude(repo, "AuditEvent")
    assert "search_reference_lookup0" in audit_only


def test_chains_find_links_by_target_and_audit_events_by_param(repo: SqlRepository) -> None:
    identifier = ("subject:Patient.identifier", "urn:oid:1.2.3|12345")
    observations = _plan(repo, parse(repo.registry, ["Observation"], [identifier]))
    # Either index finds the links of one target (SQLite takes the longer key).
    assert "search_reference_target" in observations or "search_reference_lookup0" in observations
    audit = ("entity:Patient.identifier", "urn:oid:1.2.3|12345")
    events = _plan(repo, parse(repo.registry, ["AuditEvent"], [audit]))
    assert "search_reference_lookup0" in events
    assert "search_reference_target" not in events


def test_a_combo_composite_reads_each_source_by_code(repo: SqlRepository) -> None:
    # `combo-code-value-quantity` pairs the Observation's `code` and `value-quantity` rows, and
    # a component's own rows: one arm each, each a range of the code index (an OR of the two
    # made SQLite read every token row of every Observation).
    query = parse(repo.registry, ["Observation"], [("combo-code-value-quantity", "8867-4$gt100")])
    plan = _plan(repo, query)
    assert plan.count("search_token_lookup0") == 2
    if repo.dialect.name == "sqlite":
        assert plan.count("search_token_lookup0 (resource_type=? AND param=? AND code=?)") == 2
    else:
        ranges = [line for line in plan.splitlines() if "AND (code = '8867-4'::text)" in line]
        assert len(ranges) == 2
        assert all("(param = " in line for line in ranges)


def test_a_name_search_reads_its_rows_and_its_parts_by_prefix(repo: SqlRepository) -> None:
    # `name` keeps only what `family` and `given` do not hold: one prefix range per code (with
    # `param IN (...)`, PostgreSQL 15 read every string row of every Patient).
    query = parse(repo.registry, ["Patient"], [("name", "ヤマダ")])
    plan = _plan(repo, query)
    if repo.dialect.name == "sqlite":
        ranges = plan.count("search_string_lookup0 (resource_type=? AND param=? AND norm>? AND")
    else:
        lines = [line for line in plan.splitlines() if "Index Cond" in line and "norm >=" in line]
        ranges = sum("(param = '" in line for line in lines)
        assert ranges == len(lines)
    assert ranges == 3


def test_a_page_of_a_type_reads_its_resources_in_key_order(repo: SqlRepository) -> None:
    """Without a criterion that drives, a page is the type's first resources in key order:
    read from the (type, key) index in order (migration 14), not every resource of the type
    sorted, nor every resource of all types walked."""
    for pairs in ([], [("code:not", "E11.9")]):
        query = parse(repo.registry, ["Condition"], pairs)
        plan = plan_without_sorts(repo, page_query(query, None, 21))
        if repo.dialect.name == "sqlite":
            assert "SEARCH r USING INDEX resources_type_key (resource_type=?)" in plan
        else:
            assert "Index Scan using resources_type_key on resources r" in plan
