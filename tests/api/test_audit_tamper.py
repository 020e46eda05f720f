"""Tampering with the audit tables directly in SQL is detected, on both backends.

Requests are audited through HTTP; then a row is changed behind the store's back (an event's
content, a link's hash, a deleted link or event, a truncated tail, an event inserted without a
link) and verification must name the first bad link. `tests/e2e/test_audit_cli.py` runs the
same through `tsunagu audit verify`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from tsunagu.bootstrap import Platform, build_platform
from tsunagu.http.app import create_app
from tsunagu.settings import Settings
from tsunagu.storage.sql.dialect import Dialect
from tsunagu.storage.sql.repository import SqlRepository

FHIR_JSON = {"content-type": "application/fhir+json"}


@pytest.fixture
def platform(database_url: str) -> Iterator[Platform]:
    """A platform whose trail holds five links (a create, three reads, a search)."""
    platform = build_platform(Settings(database_url=database_url, insecure_dev=True))
    client = TestClient(create_app(platform))  # no lifespan: the platform stays open
    body = {"resourceType": "Patient", "name": [{"family": "山田"}]}
    pid = client.post("/fhir/Patient", json=body, headers=FHIR_JSON).json()["id"]
    for _ in range(3):
        client.get(f"/fhir/Patient/{pid}")
    client.get("/fhir/Patient?name=山田")
    assert platform.audit_trail is not None
    platform.audit_trail.flush()
    try:
        yield platform
    finally:
        platform.close()


def _event_id(d: Dialect, seq: int) -> str:
    with d.reader() as conn:
        row = conn.execute(d.sql("SELECT event_id FROM audit_chain WHERE seq = ?"), (seq,))
        return str(row.fetchone()[0])


def _modify_content(d: Dialect, repository: SqlRepository) -> None:
    event_id = _event_id(d, 3)
    with d.reader() as conn:
        raw = conn.execute(
            d.sql("SELECT content FROM resource_history WHERE resource_type = ? AND id = ?"),
            ("AuditEvent", event_id),
        ).fetchone()[0]
    content = d.decode_json(raw)
    content["outcome"] = "4"
    with d.writer() as conn:
        conn.execute(
            d.sql("UPDATE resource_history SET content = ? WHERE resource_type = ? AND id = ?"),
            (d.encode_json(content), "AuditEvent", event_id),
        )


def _modify_hash(d: Dialect, repository: SqlRepository) -> None:
    with d.writer() as conn:
        conn.execute(d.sql("UPDATE audit_chain SET hash = ? WHERE seq = ?"), ("0" * 64, 3))


def _delete_link(d: Dialect, repository: SqlRepository) -> None:
    with d.writer() as conn:
        conn.execute(d.sql("DELETE FROM audit_chain WHERE seq = ?"), (3,))


def _delete_event(d: Dialect, repository: SqlRepository) -> None:
    event_id = _event_id(d, 3)
    with d.writer() as conn:
        for table in ("resources", "resource_history"):
            conn.execute(
                d.sql(f"DELETE FROM {table} WHERE resource_type = ? AND id = ?"),
                ("AuditEvent", event_id),
            )


def _truncate_tail(d: Dialect, repository: SqlRepository) -> None:
    with d.writer() as conn:
        conn.execute(d.sql("DELETE FROM audit_chain WHERE seq >= ?"), (3,))


def _insert_unchained(d: Dialect, repository: SqlRepository) -> None:
    with repository.session() as session:
        forged = {"resourceType": "AuditEvent"}
        session.save("AuditEvent", "forged", forged, method="POST", previous=None)


def _new_version(d: Dialect, repository: SqlRepository) -> None:
    """A changed AuditEvent written as a new version (search would show it, not version 1)."""
    event_id = _event_id(d, 2)
    with repository.session() as session:
        current = session.read("AuditEvent", event_id)
        assert current is not None
        assert current.content is not None
        changed = {**current.content, "outcome": "4"}
        session.save("AuditEvent", event_id, changed, method="PUT", previous=current)


@pytest.mark.parametrize(
    ("change", "first_bad", "reason"),
    [
        (_modify_content, 3, "modified"),
        (_modify_hash, 3, "modified"),
        (_delete_link, 3, "missing"),
        (_delete_event, 3, "missing"),
        (_truncate_tail, 3, "head says 5"),
        (_insert_unchained, 6, "not in the chain"),
        (_new_version, 6, "version"),
    ],
)
def test_tampering_is_detected_at_the_first_bad_link(
    platform: Platform,
    change: Callable[[Dialect, SqlRepository], None],
    first_bad: int,
    reason: str,
) -> None:
    trail = platform.audit_trail
    repository = platform.repository
    assert trail is not None
    assert isinstance(repository, SqlRepository)
    intact = trail.verify()
    assert intact.ok
    assert intact.checked == 5
    change(repository.dialect, repository)
    report = trail.verify()
    assert report.first_break is not None
    assert report.first_break.seq == first_bad
    assert reason in report.first_break.reason
