"""Both databases use the partial lookup indexes (migration 7) for the searches that need them.

The indexes hold only rows that have the looked-up value (`text`, `ident_value`,
`target_id`); a database uses such an index only when it can prove the query's condition
implies that. These tests read each database's own plan for the searches that rely on them.
PostgreSQL is told to avoid sequential scans (its tables are empty here), so the plan shows
which index it can use rather than what is cheapest on no rows.
"""

from __future__ import annotations

from dataclasses import replace

from tsunagu.search.plan import page_query
from tsunagu.search.query import Compartment, SearchQuery, parse
from tsunagu.storage.sql.repository import SqlRepository
from tsunagu.storage.sql.searching import spread


def _plan(repo: SqlRepository, query: SearchQuery) -> str:
    d = repo.dialect
    sql, params = spread(d, page_query(query, None, 11))
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
