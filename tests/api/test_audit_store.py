"""The audit store's group commit, on both backends: batching, waiting, failing closed,
flushing at shutdown, and concurrent appends that keep the chain contiguous."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tsunagu.bootstrap import Platform, build_platform
from tsunagu.settings import Settings
from tsunagu.storage.audit import AuditFailure
from tsunagu.storage.sql.audit_store import SqlAuditStore
from tsunagu.storage.sql.repository import SqlRepository


def _event(n: int) -> dict[str, Any]:
    return {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
        },
        "action": "R",
        "recorded": "2025-04-01T00:00:00+00:00",
        "outcome": "0",
        "agent": [{"requestor": True, "who": {"display": f"agent {n}"}}],
        "source": {"observer": {"display": "test"}},
        "entity": [{"what": {"reference": f"Patient/p{n % 3}"}}],
    }


@pytest.fixture
def platform(database_url: str) -> Iterator[Platform]:
    platform = build_platform(Settings(database_url=database_url, insecure_dev=True))
    yield platform
    platform.close()


def _store(platform: Platform, **options: Any) -> SqlAuditStore:
    repository = platform.repository
    assert isinstance(repository, SqlRepository)
    return SqlAuditStore(repository, **options)


def test_concurrent_submissions_share_commits_and_keep_the_chain_whole(
    platform: Platform,
) -> None:
    store = _store(platform, wait=True)

    def client(k: int) -> None:
        for i in range(10):
            store.submit([_event(k * 10 + i)])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    report = store.verify()
    assert report.ok
    assert report.checked == 60
    assert store.batches <= 60
    assert [seq for seq, _ in store.entries()] == list(range(1, 61))


def test_without_waiting_events_are_committed_by_flush_and_close(platform: Platform) -> None:
    store = _store(platform, wait=False)
    store.submit([_event(1), _event(2)])
    store.flush()
    assert len(store.entries()) == 2
    store.submit([_event(3)])
    store.close()  # shutdown flushes the queue
    assert len(store.entries()) == 3
    store.submit([_event(4)])  # after close: written at once, by the caller
    assert len(store.entries()) == 4
    assert store.verify().ok


def test_a_failed_batch_fails_its_waiters_and_then_everyone_waits(platform: Platform) -> None:
    store = _store(platform, wait=False)
    broken = {"resourceType": "AuditEvent", "recorded": object()}  # cannot be stored
    store.submit([broken])
    store.flush()
    with pytest.raises(AuditFailure):  # fail closed: this caller now waits for its own commit
        store.submit([broken])
    store.submit([_event(1)])  # a good batch ends the failing state
    store.flush()
    assert [event["agent"][0]["who"]["display"] for _, event in store.entries()] == ["agent 1"]
    assert store.verify().ok
    store.close()


def test_a_full_backlog_makes_submitters_wait(platform: Platform) -> None:
    store = _store(platform, wait=False, backlog_limit=0)
    store.submit([_event(1)])  # over the limit: returns only once committed
    assert len(store.entries()) == 1
    store.close()


def test_without_waiting_the_writer_gathers_events_into_one_commit(platform: Platform) -> None:
    store = _store(platform, wait=False, linger=5.0)
    started = time.monotonic()
    for n in range(20):
        store.submit([_event(n)])  # returns at once: nobody waits
    store.flush()  # ends the lingering at once
    assert time.monotonic() - started < 4.0
    assert store.batches == 1
    assert len(store.entries()) == 20
    assert store.verify().ok
    store.close()


def test_a_waiting_submitter_does_not_wait_for_the_linger(platform: Platform) -> None:
    store = _store(platform, wait=False, linger=5.0, backlog_limit=0)
    started = time.monotonic()
    store.submit([_event(1)])  # over the backlog: waits for its own commit, urgently
    assert time.monotonic() - started < 4.0
    assert len(store.entries()) == 1
    store.close()


def test_shutdown_ends_the_linger_and_commits(platform: Platform) -> None:
    store = _store(platform, wait=False, linger=5.0)
    started = time.monotonic()
    store.submit([_event(1), _event(2)])
    store.close()
    assert time.monotonic() - started < 4.0
    assert len(store.entries()) == 2
