"""Helpers shared by the search test modules: running a query, reading a searchset Bundle."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark.structures import ParameterSet
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON
from tests.pgserver import PostgresServer, create_database, drop_database
from tsunagu.bootstrap import build_platform
from tsunagu.http.app import create_app
from tsunagu.settings import Settings

BASE = "http://testserver/fhir"
# Expected match ids: a list when the order matters (`_sort`), a set when it does not.
Expected = list[str] | set[str]
Bundle = dict[str, Any]


@dataclass(frozen=True)
class SearchServer:
    """A server loaded with `data.py`, shared by many read-only tests."""

    backend: str
    client: TestClient
    since: str  # an instant after the bulk load and before `data.UPDATES` were written

    def fill(self, query: str) -> str:
        """The query with `{since}` replaced by the recorded instant."""
        return query.replace("{since}", self.since)

    def get(self, query: str, headers: dict[str, str] | None = None) -> tuple[int, Bundle]:
        """GET `[path]?a=b&c=d` (values unencoded, as written in the tables) under /fhir."""
        path, pairs = split_query(self.fill(query))
        response = self.client.get(f"/fhir/{path}", params=tuple(pairs), headers=headers)
        return response.status_code, response.json()

    def bundle(self, query: str) -> Bundle:
        """The first page of a search that must succeed."""
        status, bundle = self.get(query)
        assert status == 200, bundle
        assert bundle["resourceType"] == "Bundle", bundle
        assert bundle["type"] == "searchset"
        return bundle

    def pages(self, query: str, *, limit: int = 50) -> list[Bundle]:
        """Every page of a search, following `next` links."""
        pages = [self.bundle(query)]
        while (url := link(pages[-1], "next")) is not None:
            assert url.startswith(BASE + "/"), url
            assert len(pages) < limit, "too many pages"
            response = self.client.get(url)
            assert response.status_code == 200, response.text
            pages.append(response.json())
        return pages

    def ids(self, query: str) -> list[str]:
        """The ids of all matches over all pages, in order; no parameter may be ignored."""
        pages = self.pages(query)
        for page in pages:
            assert outcomes(page) == [], f"parameters were ignored: {outcomes(page)}"
        return [i for page in pages for i in entry_ids(page, "match")]


def split_query(query: str) -> tuple[str, list[tuple[str, str]]]:
    """('Patient', [('name', '山田')]) from 'Patient?name=山田' (no percent-decoding)."""
    path, _, raw = query.partition("?")
    pairs: list[tuple[str, str]] = []
    for item in raw.split("&") if raw else []:
        key, _, value = item.partition("=")
        pairs.append((key, value))
    return path, pairs


def entry_ids(bundle: Bundle, mode: str = "match", *, typed: bool = False) -> list[str]:
    """Ids (or `Type/id`) of the entries with the given search mode, in Bundle order."""
    found = []
    for entry in bundle.get("entry", []):
        if entry.get("search", {}).get("mode") != mode:
            continue
        resource = entry["resource"]
        found.append(f"{resource['resourceType']}/{resource['id']}" if typed else resource["id"])
    return found


def outcomes(bundle: Bundle) -> list[dict[str, Any]]:
    """OperationOutcome entries (search.mode = outcome) of a searchset."""
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") == "outcome"
    ]


def link(bundle: Bundle, relation: str) -> str | None:
    for item in bundle.get("link", []):
        if item.get("relation") == relation:
            url: str = item["url"]
            return url
    return None


def check(found: list[str], expected: Expected) -> None:
    """Exact ids: in order for a list; as a multiset (no duplicates allowed) for a set."""
    if isinstance(expected, set):
        assert sorted(found) == sorted(expected)
    else:
        assert found == expected


def case(query: str, expected: Expected) -> ParameterSet:
    """One table row, with the query string as its id."""
    return pytest.param(query, expected, id=query)


def cases(rows: Iterable[tuple[str, Expected] | ParameterSet]) -> list[ParameterSet]:
    """Table rows as pytest params (ids are the query strings)."""
    result = []
    for row in rows:
        result.append(row if isinstance(row, ParameterSet) else case(*row))
    return result


def pats(*numbers: int) -> set[str]:
    """Patient ids by number: pats(1, 2) == {'pat-01', 'pat-02'}."""
    return {f"pat-{n:02d}" for n in numbers}


def all_pats(*but: int) -> set[str]:
    """Every live patient (pat-01 .. pat-12), except the given numbers."""
    return pats(*(n for n in range(1, 13) if n not in but))


@contextmanager
def search_client(request: pytest.FixtureRequest, folder: Path) -> Iterator[TestClient]:
    """A server on an empty database of the backend `request.param` ("sqlite": a file in
    `folder`; "postgresql": a database of the test session's server, dropped afterwards).
    Search semantics only: no AuditEvents mixed into system-level results."""
    pg: PostgresServer | None = None
    name = f"search_{uuid.uuid4().hex[:16]}"
    if request.param == "sqlite":
        url = f"sqlite:///{folder}/search.db"
    else:
        pg = request.getfixturevalue("postgres_server")
        assert pg is not None
        url = create_database(pg, name)
    try:
        platform = build_platform(Settings(database_url=url, insecure_dev=True, audit=False))
        with TestClient(create_app(platform)) as client:
            yield client
    finally:
        if pg is not None:
            drop_database(pg, name)


def loaded_client(resources: Iterable[dict[str, Any]]) -> Any:
    """A module's `client` fixture: a server holding `resources`, once per backend (the
    module's tests only read)."""
    stored = list(resources)

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def client(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[TestClient]:
        with search_client(request, tmp_path_factory.mktemp("search")) as client:
            put_all(client, stored)
            yield client

    return client


def put_all(client: TestClient, resources: Iterable[dict[str, Any]]) -> None:
    """Store resources (by PUT, with their ids) in one transaction."""
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text


def escape(value: str) -> str:
    """A search value with FHIR's special characters (`\\ , $ |`) escaped."""
    for ch in "\\,$|":
        value = value.replace(ch, "\\" + ch)
    return value
