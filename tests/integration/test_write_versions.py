"""`indexing.write_versions` on both databases: the index and access rows it leaves.

PostgreSQL takes another path than SQLite (`pg_batch`: one pipeline, keys found by the
server, rows sent in chunks), so both are held to what `index_resource` and `describe` say,
on a batch large enough for several chunks, with updates, a deletion and a Consent; and a
batch that fails part way leaves nothing.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tsunagu.search.index import TABLES, IndexRows, index_resource
from tsunagu.security.categories import Category
from tsunagu.security.consent import CATEGORY_SYSTEM, FACILITY_ID_SYSTEM, RECIPIENT_ROLE
from tsunagu.storage.access import describe
from tsunagu.storage.repository import Method, StoredResource
from tsunagu.storage.sql.indexing import PendingVersion, write_versions
from tsunagu.storage.sql.repository import SqlRepository

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PATIENTS = 40  # each with 3 Observations: about 700 index rows, more than one chunk


def _patient(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.1", "value": f"{n:08d}"}],
        "name": [
            {"family": "山田", "given": [f"太郎{n}"]},
            {"family": "ヤマダ", "given": ["タロウ"]},
        ],
        "gender": "male" if n % 2 else "female",
        "birthDate": f"19{50 + n % 50}-04-0{1 + n % 9}",
        "address": [{"city": "千代田区", "state": "東京都", "postalCode": "100-0001"}],
    }


def _observation(n: int, k: int, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o{n}-{k}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/p{n}"},
        "effectiveDateTime": f"2026-0{1 + k}-15T08:00:00+09:00",
        "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org"},
    }


CONSENT = {
    "resourceType": "Consent",
    "id": "c1",
    "status": "active",
    "scope": {"coding": [{"code": "patient-privacy"}]},
    "category": [{"coding": [{"code": "INFA"}]}],
    "patient": {"reference": "Patient/p1"},
    "dateTime": "2026-11-01",
    "provision": {
        "type": "permit",
        "period": {"start": "2026-11-01"},
        "actor": [
            {
                "role": {"coding": [{"system": RECIPIENT_ROLE[0], "code": RECIPIENT_ROLE[1]}]},
                "reference": {"identifier": {"system": FACILITY_ID_SYSTEM, "value": "1312345678"}},
            }
        ],
        "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": Category.ALLERGIES.value}]}],
    },
}


def _pending(resources: list[dict[str, Any]], *, version: int = 1) -> list[PendingVersion]:
    at = AT + timedelta(minutes=version)
    method: Method = "POST" if version == 1 else "PUT"
    return [
        PendingVersion(
            StoredResource(r["resourceType"], r["id"], version, at, method, r),
            replaces=version > 1,
        )
        for r in resources
    ]


def _write(repo: SqlRepository, pending: list[PendingVersion]) -> None:
    with repo.dialect.writer() as conn:
        write_versions(repo.dialect, conn, repo.registry, pending)


def _stored_rows(repo: SqlRepository) -> Counter[tuple[Any, ...]]:
    """Every index row as (table, resource type, id, param, grp, *values), times found."""
    d = repo.dialect
    found: Counter[tuple[Any, ...]] = Counter()
    with d.reader() as conn:
        for table in TABLES:
            for row in conn.execute(
                f"SELECT r.resource_type, r.id, t.* FROM {table} t"
                " JOIN resources r ON r.res_key = t.res_key"
            ).fetchall():
                rtype, rid, _key, _type, param, grp, *values = row
                if table == "search_date":
                    values = [d.decode_time(v) for v in values]
                found[(table, rtype, rid, param, grp, *values)] += 1
    return found


def _expected_rows(repo: SqlRepository, resources: list[dict[str, Any]]) -> Counter[Any]:
    expected: Counter[tuple[Any, ...]] = Counter()
    for resource in resources:
        for table, rows in index_resource(resource, repo.registry).items():
            for param, grp, *values in rows:
                expected[
                    (table, resource["resourceType"], resource["id"], param, grp, *values)
                ] += 1
    return expected


def _access(repo: SqlRepository) -> dict[tuple[str, str], tuple[Any, ...]]:
    with repo.dialect.reader() as conn:
        rows = conn.execute(
            "SELECT r.resource_type, r.id, a.resource_type, a.access_class, a.facility,"
            " a.patient FROM resource_access a JOIN resources r ON r.res_key = a.res_key"
        ).fetchall()
    return {(str(row[0]), str(row[1])): tuple(row[2:]) for row in rows}


def _expected_access(repo: SqlRepository, resource: dict[str, Any]) -> tuple[Any, ...]:
    facts = describe(resource, repo.registry)
    return (facts.resource_type, facts.access_class.value, facts.facility, facts.patient)


def _count(repo: SqlRepository, sql: str) -> int:
    with repo.dialect.reader() as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0])


def test_a_batch_then_updates_and_a_deletion(repo: SqlRepository) -> None:
    resources = [_patient(n) for n in range(PATIENTS)] + [
        _observation(n, k, 60.0 + n + k / 10) for n in range(PATIENTS) for k in range(3)
    ]
    _write(repo, _pending([*resources, CONSENT]))
    assert _stored_rows(repo) == _expected_rows(repo, [*resources, CONSENT])
    assert sum(_stored_rows(repo).values()) > 600
    access = _access(repo)
    assert len(access) == len(resources) + 1
    for resource in resources[::7]:
        assert access[(resource["resourceType"], resource["id"])] == _expected_access(
            repo, resource
        )
    assert _count(repo, "SELECT count(*) FROM access_grants") == 1

    # Version 2 of every other Patient with a new name, and a new value of every Observation
    # of patient 0; patient 3's last Observation deleted; the Consent withdrawn.
    renamed = [
        {**_patient(n), "name": [{"family": "佐藤", "given": ["花子"]}]} for n in range(0, 10, 2)
    ]
    revalued = [_observation(0, k, 99.5) for k in range(3)]
    updates = _pending([*renamed, *revalued, {**CONSENT, "status": "inactive"}], version=2)
    deleted = StoredResource("Observation", "o3-2", 2, AT + timedelta(hours=1), "DELETE", None)
    _write(repo, [*updates, PendingVersion(deleted, replaces=True)])

    current = {(r["resourceType"], r["id"]): r for r in resources}
    for r in [*renamed, *revalued]:
        current[(r["resourceType"], r["id"])] = r
    del current[("Observation", "o3-2")]
    inactive = {**CONSENT, "status": "inactive"}
    assert _stored_rows(repo) == _expected_rows(repo, [*current.values(), inactive])
    access = _access(repo)
    assert access[("Patient", "p0")] == _expected_access(repo, renamed[0])
    # An inactive Consent grants nothing.
    assert _count(repo, "SELECT count(*) FROM access_grants") == 0


def test_a_batch_that_fails_part_way_leaves_nothing(repo: SqlRepository) -> None:
    resources = [_patient(n) for n in range(PATIENTS)]
    pending = _pending(resources)
    # The last version's rows break a NOT NULL column: the database refuses them after it
    # has taken the earlier chunks (PostgreSQL) or rows (SQLite).
    broken: IndexRows = {table: [] for table in TABLES}
    broken["search_string"] = [("name", None, None, "x")]
    last = pending[-1]
    pending[-1] = PendingVersion(last.stored, replaces=False, rows=broken)
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.NotNullViolation)):
        _write(repo, pending)
    assert _count(repo, "SELECT count(*) FROM resources") == 0
    assert _count(repo, "SELECT count(*) FROM resource_history") == 0
    assert _count(repo, "SELECT count(*) FROM search_string") == 0
    assert _count(repo, "SELECT count(*) FROM resource_access") == 0
    # The connection is usable again afterwards.
    _write(repo, _pending(resources[:2]))
    assert _count(repo, "SELECT count(*) FROM resources") == 2


def test_an_error_while_rows_are_built_leaves_nothing(
    repo: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the history and the first chunks are already sent when the error comes.
    def failing(resource: dict[str, Any], *args: Any, **kwargs: Any) -> IndexRows:
        if resource["id"] == f"p{PATIENTS - 1}":
            raise RuntimeError("indexing failed")
        return index_resource(resource, *args, **kwargs)

    monkeypatch.setattr("tsunagu.storage.sql.indexing.index_resource", failing)
    with pytest.raises(RuntimeError, match="indexing failed"):
        _write(repo, _pending([_patient(n) for n in range(PATIENTS)]))
    assert _count(repo, "SELECT count(*) FROM resources") == 0
    assert _count(repo, "SELECT count(*) FROM search_string") == 0
    monkeypatch.undo()
    _write(repo, _pending([_patient(0)]))
    assert _count(repo, "SELECT count(*) FROM resources") == 1


def test_a_version_written_twice_is_refused_as_such(repo: SqlRepository) -> None:
    # The batch's first statement fails (the history's unique version); on PostgreSQL the
    # chunks sent after it are aborted, and the error raised is the first one.
    _write(repo, _pending([_patient(0)]))
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)) as refused:
        _write(repo, _pending([_patient(n) for n in range(PATIENTS)]))
    assert repo.dialect.is_unique_violation(refused.value)
    assert _count(repo, "SELECT count(*) FROM resources") == 1
