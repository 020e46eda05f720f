"""SQLite's query plans for searches that are easy to plan badly (a real, empty database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tsunagu.fhir.definitions import load_definitions
from tsunagu.search.parameters import SearchRegistry
from tsunagu.search.plan import page_query
from tsunagu.search.query import parse
from tsunagu.storage.sql.connect import open_repository
from tsunagu.storage.sql.repository import SqlRepository
from tsunagu.storage.sql.searching import spread


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlRepository]:
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    repository = open_repository(f"sqlite:///{path}", SearchRegistry(load_definitions()))
    assert isinstance(repository, SqlRepository)
    yield repository
    repository.close()


def _plan(repo: SqlRepository, pairs: list[tuple[str, str]]) -> list[str]:
    query = parse(repo.registry, ["Patient"], pairs)
    sql, params = spread(repo.dialect, page_query(query, None, 11))
    with repo.dialect.reader() as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {repo.dialect.sql(sql)}", params).fetchall()
    return [str(row[3]) for row in rows]


def test_or_ed_dates_read_one_index_range_each(repo: SqlRepository) -> None:
    days = ["1975-03-01", "1957-03-01", "1975-01-03", "1975-03-10"]
    plan = _plan(repo, [("birthdate", ",".join(days))])
    ranges = [step for step in plan if "search_date_lookup0" in step and "low>? AND low<?" in step]
    assert len(ranges) == len(days), plan


def test_or_ed_name_prefixes_read_one_index_range_each(repo: SqlRepository) -> None:
    plan = _plan(repo, [("name", "ヤマダ,サトウ")])
    ranges = [s for s in plan if "search_string_lookup0" in s and "norm>? AND norm<?" in s]
    assert len(ranges) == 2 * 3, plan  # each of `name`, `family` and `given` (their parts)
