"""A crash loses nothing acknowledged and keeps nothing half-done.

A real server (one worker) acknowledges some creates, updates and a transaction; then a
large transaction Bundle is sent and, while the server is in the middle of it, the whole
server process group is killed with SIGKILL. After a restart on the same database every
acknowledged version is there, none of the interrupted transaction's resources is, and the
database takes new writes.

"In the middle of it" is observed, not guessed: the test polls the database until the
server's write transaction is open (which happens only after the whole body has arrived and
been parsed), then waits a fraction of the time a transaction of that size was measured to
take, checks that no answer has come yet, and kills.
See: https://hl7.org/fhir/R4/http.html#transaction
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from tests.server import RunningServer, running_server, start_server

MARKER_SYSTEM = "urn:tsunagu-test:durability"
CALIBRATION_ENTRIES = 1_000
IN_FLIGHT_ENTRIES = 20_000
# Kill this far into the measured duration of the in-flight transaction, but no sooner
# than MIN_HOLD and no later than MAX_HOLD seconds after its database transaction opened.
KILL_FRACTION = 0.25
MIN_HOLD = 0.5
MAX_HOLD = 3.0
OPEN_TIMEOUT = 120.0  # for the server to receive, parse and start the big transaction
FHIR_JSON = {"content-type": "application/fhir+json"}


@dataclass
class Posted:
    """The outcome of the POST sent in the background."""

    response: httpx.Response | None = None
    error: BaseException | None = None
    finished_at: float | None = None


def test_sigkill_during_a_transaction_keeps_acknowledged_data_only(
    database_url: str, tmp_path: Path
) -> None:
    log_file = tmp_path / "server.log"
    transaction_open = _open_transaction_probe(database_url)
    assert not transaction_open(), "a write transaction is open before the server started"

    server = start_server(database_url, log_file, workers=1)
    try:
        with server.client(timeout=300.0) as client:
            acknowledged = _acknowledged_writes(client)
            started = time.monotonic()
            response = client.post(
                "", content=_transaction(CALIBRATION_ENTRIES, "calibration"), headers=FHIR_JSON
            )
            per_entry = (time.monotonic() - started) / CALIBRATION_ENTRIES
            assert response.status_code == 200, response.text[:500]
            acknowledged.update(_created(response))
            history_before = _history(client)

        body = _transaction(IN_FLIGHT_ENTRIES, "in-flight")
        posted = Posted()
        sender = threading.Thread(target=_send, args=(server, body, posted), name="big-post")
        sender.start()
        _wait_for(transaction_open, server, posted)
        expected = per_entry * IN_FLIGHT_ENTRIES
        time.sleep(min(max(KILL_FRACTION * expected, MIN_HOLD), MAX_HOLD))
        assert posted.finished_at is None, (
            f"the transaction ended before it could be interrupted ({posted.response}, "
            f"{posted.error!r}; expected to take {expected:.0f}s): raise IN_FLIGHT_ENTRIES"
        )
        assert server.alive(), server.log_tail()
        server.kill()
        sender.join(timeout=60.0)
        assert not sender.is_alive(), "the client did not notice that the server died"
    finally:
        server.stop()
    assert posted.response is None, f"the killed transaction was answered: {posted.response}"
    assert isinstance(posted.error, httpx.TransportError), repr(posted.error)

    with (
        running_server(database_url, log_file, workers=1) as restarted,
        restarted.client() as client,
    ):
        # Every acknowledged version is there, as acknowledged.
        lost = []
        for path, version in sorted(acknowledged.items()):
            read = client.get(path)
            if read.status_code != 200 or read.headers.get("etag") != f'W/"{version}"':
                lost.append(f"{path}: {read.status_code} {read.headers.get('etag')}")
        assert not lost, f"{len(lost)} acknowledged resources lost or changed: {lost[:10]}"
        assert _marked(client, "Patient", "calibration") == CALIBRATION_ENTRIES // 2
        assert _marked(client, "Observation", "calibration") == CALIBRATION_ENTRIES // 2

        # Nothing of the interrupted transaction is: no resource, no version.
        leftovers = {
            rtype: _marked(client, rtype, "in-flight") for rtype in ("Patient", "Observation")
        }
        assert leftovers == {"Patient": 0, "Observation": 0}, leftovers
        assert _history(client) == history_before

        # The database takes new writes of every kind.
        _check_writes_work(client)
    if database_url.startswith("sqlite:///"):
        _check_sqlite_integrity(Path(database_url.removeprefix("sqlite:///")))


# --- the writes ---------------------------------------------------------------------------


def _acknowledged_writes(client: httpx.Client) -> dict[str, int]:
    """Creates and updates answered with success: resource path -> acknowledged version."""
    acknowledged: dict[str, int] = {}
    for number in range(20):
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": MARKER_SYSTEM, "value": f"acknowledged-{number}"}],
            "name": [{"family": f"Acknowledged{number}"}],
        }
        response = client.post("Patient", json=patient, headers=FHIR_JSON)
        assert response.status_code == 201, response.text
        path = response.headers["location"].split("/fhir/", 1)[1].split("/_history/")[0]
        acknowledged[path] = 1
        if number % 4 == 0:
            changed = {**response.json(), "active": True}
            response = client.put(path, json=changed, headers=FHIR_JSON)
            assert response.status_code == 200, response.text
            acknowledged[path] = 2
    for number in range(5):
        path = f"Basic/durable-{number}"
        basic = {"resourceType": "Basic", "id": f"durable-{number}", "code": {"text": "kept"}}
        response = client.put(path, json=basic, headers=FHIR_JSON)
        assert response.status_code == 201, response.text
        acknowledged[path] = 1
    return acknowledged


def _transaction(entries: int, tag: str) -> bytes:
    """A transaction of `entries` POSTs: patients, and observations referring to them.

    Every resource has the identifier `MARKER_SYSTEM|tag`, and one of its own.
    """
    items: list[dict[str, Any]] = []
    for number in range(entries // 2):
        patient_url = f"urn:uuid:{uuid.uuid4()}"
        identifiers = [
            {"system": MARKER_SYSTEM, "value": tag},
            {"system": MARKER_SYSTEM, "value": f"{tag}-{number}"},
        ]
        patient = {
            "resourceType": "Patient",
            "identifier": identifiers,
            "name": [{"family": f"Family{number}", "given": ["Test"]}],
            "birthDate": "1970-01-01",
        }
        observation = {
            "resourceType": "Observation",
            "identifier": identifiers,
            "status": "final",
            "code": {"text": "body weight"},
            "subject": {"reference": patient_url},
            "valueQuantity": {"value": 60.5, "unit": "kg"},
        }
        items.append(
            {"fullUrl": patient_url, "resource": patient, "request": _post("Patient")},
        )
        items.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": observation,
                "request": _post("Observation"),
            }
        )
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": items})


def _post(resource_type: str) -> dict[str, str]:
    return {"method": "POST", "url": resource_type}


def _created(response: httpx.Response) -> dict[str, int]:
    """The resources a transaction-response reports, with their versions."""
    created: dict[str, int] = {}
    for entry in response.json()["entry"]:
        location = entry["response"]["location"].split("/fhir/", 1)[1]
        path, _, version = location.partition("/_history/")
        created[path] = int(version)
    return created


def _send(server: RunningServer, body: bytes, posted: Posted) -> None:
    try:
        with httpx.Client(timeout=600.0) as client:
            posted.response = client.post(server.base_url, content=body, headers=FHIR_JSON)
    except BaseException as error:  # examined by the test
        posted.error = error
    finally:
        posted.finished_at = time.monotonic()


def _marked(client: httpx.Client, resource_type: str, tag: str) -> int:
    """How many current resources of a type carry the identifier MARKER_SYSTEM|tag."""
    params = {"identifier": f"{MARKER_SYSTEM}|{tag}", "_summary": "count"}
    response = client.get(resource_type, params=params)
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def _history(client: httpx.Client) -> list[tuple[str, str]]:
    """Every version in the system history, newest first: (Type/id, etag), without the
    AuditEvents (reading the history is itself audited, so they keep growing)."""
    versions: list[tuple[str, str]] = []
    url: str | None = "_history?_count=1000"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        versions += [
            (e["fullUrl"].split("/fhir/", 1)[1], e["response"]["etag"])
            for e in body.get("entry", [])
            if not e["fullUrl"].split("/fhir/", 1)[1].startswith("AuditEvent/")
        ]
        links = {link["relation"]: link["url"] for link in body.get("link", [])}
        url = links.get("next")
    return versions


def _check_writes_work(client: httpx.Client) -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": MARKER_SYSTEM, "value": "after-restart"}],
    }
    created = client.post("Patient", json=patient, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    path = created.headers["location"].split("/fhir/", 1)[1].split("/_history/")[0]
    updated = client.put(
        path, json={**created.json(), "active": True}, headers={**FHIR_JSON, "if-match": 'W/"1"'}
    )
    assert updated.status_code == 200, updated.text
    assert client.get(path).json()["active"] is True
    assert _marked(client, "Patient", "after-restart") == 1
    small = client.post("", content=_transaction(10, "after-restart-tx"), headers=FHIR_JSON)
    assert small.status_code == 200, small.text
    assert _marked(client, "Observation", "after-restart-tx") == 5
    deleted = client.delete(path)
    assert deleted.status_code in (200, 204), deleted.text
    assert client.get(path).status_code == 410


# --- watching the database ------------------------------------------------------------------


def _open_transaction_probe(database_url: str) -> Callable[[], bool]:
    """A function telling whether some connection has a write transaction open right now."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))

        def sqlite_probe() -> bool:
            if not path.exists():
                return False
            conn = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")  # fails at once while a writer holds the lock
                conn.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as error:
                if "locked" in str(error) or "busy" in str(error):
                    return True
                raise
            finally:
                conn.close()

        return sqlite_probe

    def postgres_probe() -> bool:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                " AND state IN ('active', 'idle in transaction')"
            ).fetchone()
        return row is not None and int(row[0]) > 0

    return postgres_probe


def _wait_for(transaction_open: Callable[[], bool], server: RunningServer, posted: Posted) -> None:
    """Poll until the server's write transaction is open, failing early if the POST ended."""
    deadline = time.monotonic() + OPEN_TIMEOUT
    while time.monotonic() < deadline:
        if transaction_open():
            return
        assert posted.finished_at is None, (
            f"the POST ended before its transaction was seen: {posted.response} {posted.error!r}"
        )
        assert server.alive(), server.log_tail()
        time.sleep(0.02)
    raise AssertionError(f"no write transaction opened in {OPEN_TIMEOUT:.0f}s")


def _check_sqlite_integrity(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    assert rows == [("ok",)], rows
