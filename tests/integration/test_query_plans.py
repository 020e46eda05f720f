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
from typing import Any

import orjson
import pytest

from tsunagu.search.plan import page_query
from tsunagu.search.query import Compartment, Include, SearchQuery, parse
from tsunagu.search.sql import Fragment
from tsunagu.storage.repository import Match, StoredResource
from tsunagu.storage.sql.repository import SqlRepository
from tsunagu.storage.sql.searching import include_queries, page_on, search, spread


def _plan(repo: SqlRepository, query: SearchQuery | Fragment) -> str:
    d = repo.dialect
    if isinstance(query, SearchQuery):
        # The keys fetched first (on PostgreSQL, the plan a semi-join takes for a rare value).
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


def _populated(repo: SqlRepository) -> None:
    """1,500 Patients, two thirds men and three with another gender, among 4,500 Observations
    (whose token rows outnumber theirs, as in real data); statistics read."""
    with repo.session() as session:
        for n in range(1500):
            gender = "other" if n >= 1497 else ("male" if n % 3 else "female")
            body = {"resourceType": "Patient", "gender": gender, "active": True}
            session.save("Patient", f"p{n:04d}", body, method="PUT", previous=None)
            for k in range(3):
                observation = {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{"coding": [{"code": "vital-signs"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": f"c{k}"}]},
                }
                session.save("Observation", f"o{n}-{k}", observation, method="PUT", previous=None)
    with repo.dialect.writer() as conn:
        conn.execute("ANALYZE")


def _rows_read(repo: SqlRepository, query: SearchQuery, limit: int) -> dict[str, int]:
    """Rows each index table's scans returned, running the page statement as searches do."""
    d = repo.dialect
    sql, params = spread(d, page_on(d, query, None, limit).statement)
    with d.reader() as conn:
        (plan,) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {d.sql(sql)}", params).fetchone()
    read: dict[str, int] = {}

    def walk(node: dict[str, Any]) -> None:
        relation = node.get("Relation Name", "")
        if relation.startswith("search_"):
            rows = int(node["Actual Rows"]) * int(node.get("Actual Loops", 1))
            read[relation] = read.get(relation, 0) + rows
        for child in node.get("Plans", []):
            walk(child)

    walk(orjson.loads(plan)[0]["Plan"])  # the connection keeps JSON as text
    return read


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_common_value_is_read_to_the_page_end_and_a_rare_one_by_its_index(
    repo: SqlRepository,
) -> None:
    # A page in key order of a value most resources have stops at the page's end
    # (`Selection.source`); a rare value's few keys are fetched first.
    _populated(repo)
    men = parse(repo.registry, ["Patient"], [("gender", "male")])
    read = _rows_read(repo, men, 11)
    assert read["search_token"] < 100, read
    # The page and one more (which tells there is a next page), in key order.
    found = [m.resource.id for m in repo.search(replace(men, count=10))]
    assert found == [f"p{n:04d}" for n in range(1500) if n % 3][:11]
    others = parse(repo.registry, ["Patient"], [("gender", "other")])
    assert _rows_read(repo, others, 11) == {"search_token": 3}
    found = [m.resource.id for m in repo.search(replace(others, count=10))]
    assert found == ["p1497", "p1498", "p1499"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_page_walked_in_key_order_is_planned_for_its_values_every_time(
    repo: SqlRepository,
) -> None:
    # A prepared statement may get one generic plan for every value after ten runs; the walk
    # or fetch choice must be made for each value (`PostgresDialect.fetch_planned`).
    d = repo.dialect
    walked = parse(repo.registry, ["Patient"], [("gender", "male")])
    sorted_page = replace(walked, sort=parse(repo.registry, ["Patient"], [("_sort", "_id")]).sort)
    with d.reader() as conn:
        for _ in range(12):
            search(d, conn, walked, None)
            search(d, conn, sorted_page, None)
        rows = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    prepared = [str(row[0]) for row in rows]
    assert not [sql for sql in prepared if "r.res_key IN (SELECT" in sql]
    assert [sql for sql in prepared if "SELECT DISTINCT" in sql]  # the others stay prepared
