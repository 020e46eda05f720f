"""Optimistic locking under real concurrency: no update is ever lost.

A real `tsunagu serve --workers 2` (two processes, so two connection pools or two SQLite
writers) takes read-modify-write cycles from many client threads at once. Each cycle reads
the resource, increments a counter extension, appends the thread's own marker, and PUTs it
back with `If-Match: W/"n"`. A PUT is acknowledged (200) only when it was based on the
current version; every other PUT must be refused with 412. Then the final resource holds
exactly the acknowledged changes, and its history exactly the acknowledged versions.
See: https://hl7.org/fhir/R4/http.html#concurrency
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.server import running_server

THREADS = 8
ATTEMPTS = 25  # per thread
DEADLINE_SECONDS = 180.0  # for all attempts together
RESOURCE = "Basic/contended"
COUNTER_URL = "urn:tsunagu-test:counter"
MARKER_URL = "urn:tsunagu-test:marker"
FHIR_JSON = {"content-type": "application/fhir+json"}


@dataclass
class Attempt:
    """One read-modify-write cycle of one thread."""

    marker: str
    status: int  # of the PUT; 0 when it was not sent
    etag: str | None = None
    body_type: str | None = None


@dataclass
class Log:
    """What all threads saw; lists are appended to from several threads (atomic in CPython)."""

    attempts: list[Attempt] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def test_concurrent_if_match_updates_lose_nothing(database_url: str, tmp_path: Path) -> None:
    log = Log()
    with running_server(database_url, tmp_path / "server.log", workers=2) as server:
        initial = {
            "resourceType": "Basic",
            "id": "contended",
            "code": {"text": "concurrency test"},
            "extension": [{"url": COUNTER_URL, "valueInteger": 0}],
        }
        with server.client() as client:
            created = client.put(RESOURCE, json=initial, headers=FHIR_JSON)
            assert created.status_code == 201, created.text

        start = threading.Barrier(THREADS)
        deadline = time.monotonic() + DEADLINE_SECONDS
        threads = [
            threading.Thread(
                target=_worker,
                args=(server.base_url, number, start, deadline, log),
                name=f"updater-{number}",
            )
            for number in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(1.0, deadline - time.monotonic()) + 30.0)
        hung = [thread.name for thread in threads if thread.is_alive()]

        with server.client() as client:
            final = client.get(RESOURCE)
            history = client.get(f"{RESOURCE}/_history", params={"_count": "1000"})
        server_log = server.log_tail()

    assert not hung, f"threads still running after the deadline: {hung}\n{server_log}"
    assert not log.problems, "\n".join(log.problems[:20])
    assert final.status_code == 200, final.text
    assert history.status_code == 200, history.text

    acknowledged = [a for a in log.attempts if 200 <= a.status < 300]
    refused = [a for a in log.attempts if not 200 <= a.status < 300]
    assert len(log.attempts) == THREADS * ATTEMPTS, "some attempts ran out of time"
    assert acknowledged, "no update succeeded"

    # Every refusal is a 412 with an OperationOutcome.
    wrong = [a for a in refused if a.status != 412 or a.body_type != "OperationOutcome"]
    assert not wrong, [(a.marker, a.status, a.body_type) for a in wrong[:20]]

    # Each acknowledged PUT made its own version: 2, 3, ... with no version acknowledged twice.
    versions = sorted(_version(a.etag) for a in acknowledged)
    assert versions == list(range(2, len(acknowledged) + 2)), versions

    # No lost update: the final resource holds every acknowledged change and nothing else.
    resource = final.json()
    assert resource["meta"]["versionId"] == str(len(acknowledged) + 1)
    assert final.headers["etag"] == f'W/"{len(acknowledged) + 1}"'
    markers = _markers(resource)
    assert len(markers) == len(set(markers)), "a marker was applied twice"
    missing = {a.marker for a in acknowledged} - set(markers)
    assert not missing, f"acknowledged updates lost: {sorted(missing)[:20]}"
    unacknowledged = set(markers) - {a.marker for a in acknowledged}
    assert not unacknowledged, f"refused updates applied: {sorted(unacknowledged)[:20]}"
    assert _counter(resource) == len(acknowledged)

    # The history has exactly the creation and the acknowledged versions.
    entries = history.json().get("entry", [])
    etags = sorted(_version(entry["response"]["etag"]) for entry in entries)
    assert etags == list(range(1, len(acknowledged) + 2)), etags

    # The threads really did race (otherwise nothing was tested).
    assert refused, "no PUT was refused: the updates never overlapped"


def _worker(
    base_url: str, number: int, start: threading.Barrier, deadline: float, log: Log
) -> None:
    try:
        with httpx.Client(base_url=base_url + "/", timeout=60.0) as client:
            start.wait(timeout=60.0)
            for attempt in range(ATTEMPTS):
                if time.monotonic() > deadline:
                    log.problems.append(f"thread {number} ran out of time at attempt {attempt}")
                    return
                log.attempts.append(_cycle(client, f"t{number}-a{attempt}", log))
    except Exception as error:  # reported by the test, not lost in the thread
        log.problems.append(f"thread {number}: {error!r}")


def _cycle(client: httpx.Client, marker: str, log: Log) -> Attempt:
    """Read, change and write back the resource once."""
    read = client.get(RESOURCE)
    if read.status_code != 200:
        log.problems.append(f"{marker}: GET {RESOURCE} -> {read.status_code} {read.text[:200]}")
        return Attempt(marker, 0)
    resource = read.json()
    version = resource["meta"]["versionId"]
    if read.headers.get("etag") != f'W/"{version}"':
        log.problems.append(f"{marker}: ETag {read.headers.get('etag')} for version {version}")
    extensions = resource.setdefault("extension", [])
    for extension in extensions:
        if extension["url"] == COUNTER_URL:
            extension["valueInteger"] += 1
    extensions.append({"url": MARKER_URL, "valueString": marker})
    headers = {**FHIR_JSON, "if-match": f'W/"{version}"'}
    put = client.put(RESOURCE, json=resource, headers=headers)
    body_type = None
    with contextlib.suppress(ValueError):
        body_type = put.json().get("resourceType")
    return Attempt(marker, put.status_code, put.headers.get("etag"), body_type)


def _version(etag: str | None) -> int:
    assert etag is not None
    assert etag.startswith('W/"'), etag
    return int(etag[3:-1])


def _counter(resource: dict[str, Any]) -> int:
    values = [e["valueInteger"] for e in resource.get("extension", []) if e["url"] == COUNTER_URL]
    assert len(values) == 1, values
    value: int = values[0]
    return value


def _markers(resource: dict[str, Any]) -> list[str]:
    return [e["valueString"] for e in resource.get("extension", []) if e["url"] == MARKER_URL]
