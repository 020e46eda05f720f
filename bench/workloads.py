"""The measured workloads, each through Tsunagu and against the raw-database baseline.

The baseline is a plain table `bench_raw (id PRIMARY KEY, content JSON)` in the same database,
written and read through the same dialect connections the repository uses (same pragmas, pool
and JSON encoding), so the ratio isolates what Tsunagu adds: HTTP, FHIR handling, versioning,
the history/current/identifier tables.
"""

from __future__ import annotations

import http.client
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from bench import data
from bench.measure import Run, cpu_meter, run_concurrent, run_sequential
from tsunagu.storage.repository import ResourceRepository
from tsunagu.storage.sql.dialect import Dialect
from tsunagu.storage.sql.repository import SqlRepository

RAW_TABLE = "bench_raw"
FHIR_JSON = "application/fhir+json"


class BenchError(RuntimeError):
    """A request or query did not do what the benchmark expects."""


# --- setup ---------------------------------------------------------------------------------


def create_raw_table(dialect: Dialect) -> None:
    with dialect.writer() as conn:
        conn.execute(
            dialect.sql(
                f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} "
                "(id {text} PRIMARY KEY, content {json} NOT NULL)"
            )
        )


def _executemany(conn: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
    cursor = conn.cursor()
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()


def bulk_load(
    repo: SqlRepository,
    count: int,
    *,
    chunk: int,
    seed: int,
    threads: int,
    progress: Progress,
) -> tuple[list[tuple[str, str]], Run, Run]:
    """Store `count` resources through WriteSession.save, `chunk` per session, then the same
    resources (as stored, with meta) into the raw table with one executemany per chunk.

    Both phases run on `threads` threads, each with its own session or connection. Returns the
    (type, id) pairs and the two timed runs.
    """
    dialect = repo.dialect
    insert = dialect.sql(f"INSERT INTO {RAW_TABLE} (id, content) VALUES (?, ?)")
    keys: list[tuple[str, str]] = []

    def chunks() -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
        rng = random.Random(seed)  # the same resources for both phases
        for start in range(0, count, chunk):
            yield list(data.stored_set(rng, min(chunk, count - start), start=start))

    def store(batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        with repo.session() as session:
            for rtype, id, content in batch:
                session.save(rtype, id, content, method="POST", previous=None)

    def store_raw(batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        now = datetime.now(UTC)
        rows = [(id, dialect.encode_json(data.stored_form(c, id, now))) for _t, id, c in batch]
        with dialect.writer() as conn:
            _executemany(conn, insert, rows)

    def remember(batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        keys.extend((rtype, id) for rtype, id, _content in batch)

    storage = load_in_chunks(chunks(), threads, store, remember, progress, "load storage", count)
    raw = load_in_chunks(chunks(), threads, store_raw, None, progress, "load raw table", count)
    return keys, storage, raw


def load_in_chunks(
    chunks: Iterator[list[tuple[str, str, dict[str, Any]]]],
    threads: int,
    work: Callable[[list[tuple[str, str, dict[str, Any]]]], None],
    seen: Callable[[list[tuple[str, str, dict[str, Any]]]], None] | None,
    progress: Progress,
    label: str,
    count: int,
) -> Run:
    """Feed chunks (generated on this thread) to `threads` workers; time the whole phase.

    The time includes generating the chunks on this thread, as far as the workers wait for it.
    """
    task = progress.add_task(label, total=count, rate="")
    pending: queue.Queue[list[tuple[str, str, dict[str, Any]]] | None] = queue.Queue(threads * 2)
    failures: list[BaseException] = []
    done = 0
    lock = threading.Lock()
    began = time.perf_counter()

    def worker() -> None:
        nonlocal done
        while (batch := pending.get()) is not None:
            try:
                if not failures:
                    work(batch)
            except BaseException as error:
                failures.append(error)
            with lock:
                done += len(batch)
                elapsed = time.perf_counter() - began
                progress.update(task, completed=done, rate=f"{done / elapsed:,.0f}/s")

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    with cpu_meter() as cpu:
        for thread in workers:
            thread.start()
        for batch in chunks:
            if failures:
                break
            if seen is not None:
                seen(batch)
            pending.put(batch)
        for _thread in workers:
            pending.put(None)
        for thread in workers:
            thread.join()
        seconds = time.perf_counter() - began
    if failures:
        raise failures[0]
    return Run(count, seconds, cpu=cpu)


def settle(database_url: str) -> None:
    """After a bulk load, leave the database as a running system would have it.

    PostgreSQL: VACUUM ANALYZE (so autovacuum does not start in the middle of a measurement);
    SQLite: checkpoint the write-ahead log into the database file.
    """
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")


def update_old_index(
    repository: ResourceRepository, url: str, console: Console, label: str
) -> None:
    """On data loaded before (`--data-dir`): first the rebuilds that an upgrade owes
    (`pending_rebuilds`: the date rows once dates without a zone became days in Japan time),
    as `tsunagu reindex --param-type` does; then the index rows this version no longer writes
    deleted, as `tsunagu reindex --prune` does. So the measured database holds the rows a load
    today would write (rows a newer version adds are another matter: see bench/README.md).
    After either, the database is settled again."""
    rebuilt = False
    for param_type, reason in repository.pending_rebuilds().items():
        with progress_bar() as progress:
            task = progress.add_task(f"{label}rebuild {param_type} rows", total=None, rate="")

            def advance(done: int, total: int, task: TaskID = task) -> None:
                progress.update(task, completed=done, total=total)

            count = repository.reindex_type(param_type, progress=advance)
        console.print(
            f"{label}rebuilt the {param_type} index rows of {count:,} resources ({reason})"
        )
        rebuilt = True
    removed = repository.prune_index()
    if removed or rebuilt:
        settle(url)
    if removed:
        console.print(
            f"{label}deleted {removed:,} index rows that this version no longer writes"
            " (the data was loaded by an older one)"
        )


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )


# --- 1. single-resource create ----------------------------------------------------------


def http_creates(base_url: str, bodies: list[dict[str, Any]], clients: int) -> Run:
    jobs = [(body["resourceType"], orjson.dumps(body)) for body in bodies]

    @contextmanager
    def worker() -> Iterator[Callable[[tuple[str, bytes]], int]]:
        with _client() as client:

            def create(job: tuple[str, bytes]) -> int:
                rtype, body = job
                response = client.post(f"{base_url}/{rtype}", content=body)
                if response.status_code != 201:
                    raise BenchError(
                        f"create {rtype}: {response.status_code} {response.text[:300]}"
                    )
                return 1

            yield create

    return run_concurrent(jobs, clients, worker)


def raw_creates(dialect: Dialect, bodies: list[dict[str, Any]], clients: int, seed: int) -> Run:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    jobs = []
    for body in bodies:
        id = data.new_id(rng)
        jobs.append((id, data.stored_form(body, id, now)))
    insert = dialect.sql(f"INSERT INTO {RAW_TABLE} (id, content) VALUES (?, ?)")

    @contextmanager
    def worker() -> Iterator[Callable[[tuple[str, dict[str, Any]]], int]]:
        def create(job: tuple[str, dict[str, Any]]) -> int:
            id, content = job
            with dialect.writer() as conn:  # one row per transaction, like a create
                conn.execute(insert, (id, dialect.encode_json(content)))
            return 1

        yield create

    return run_concurrent(jobs, clients, worker)


# --- 2. transaction ingest --------------------------------------------------------------


def make_bundles(
    count: int, size: int, seed: int
) -> tuple[list[bytes], list[list[tuple[str, dict[str, Any]]]]]:
    rng = random.Random(seed)
    bundles: list[bytes] = []
    raws: list[list[tuple[str, dict[str, Any]]]] = []
    for number in range(count):
        bundle, raw = data.transaction_bundle(rng, size, start=number * size)
        bundles.append(orjson.dumps(bundle))
        raws.append(raw)
    return bundles, raws


def http_transactions(base_url: str, bundles: list[bytes], size: int, clients: int) -> Run:
    @contextmanager
    def worker() -> Iterator[Callable[[bytes], int]]:
        with _client() as client:

            def post(body: bytes) -> int:
                response = client.post(base_url, content=body)
                if response.status_code != 200:
                    raise BenchError(f"transaction: {response.status_code} {response.text[:300]}")
                entries = response.json().get("entry", [])
                if len(entries) != size or any(
                    not e["response"]["status"].startswith("201") for e in entries
                ):
                    raise BenchError("transaction response does not report every entry created")
                return size

            yield post

    return run_concurrent(bundles, clients, worker)


def raw_transactions(
    dialect: Dialect, batches: list[list[tuple[str, dict[str, Any]]]], clients: int
) -> Run:
    insert = dialect.sql(f"INSERT INTO {RAW_TABLE} (id, content) VALUES (?, ?)")

    @contextmanager
    def worker() -> Iterator[Callable[[list[tuple[str, dict[str, Any]]]], int]]:
        def ingest(batch: list[tuple[str, dict[str, Any]]]) -> int:
            rows = [(id, dialect.encode_json(content)) for id, content in batch]
            with dialect.writer() as conn:  # the whole batch in one transaction
                _executemany(conn, insert, rows)
            return len(rows)

        yield ingest

    return run_concurrent(batches, clients, worker)


# --- 3. read by id ----------------------------------------------------------------------


def pick(keys: list[tuple[str, str]], count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [keys[rng.randrange(len(keys))] for _ in range(count)]


def http_reads(base_url: str, targets: list[tuple[str, str]], warmup: list[tuple[str, str]]) -> Run:
    """Sequential GETs on one keep-alive connection: the round trip, including parsing the body.

    The standard library's client is used here rather than httpx: httpx spends about 0.8 ms
    of its own per request, which would be counted as server latency.
    """
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"accept": FHIR_JSON}
    try:

        def read(key: tuple[str, str]) -> object:
            rtype, id = key
            connection.request("GET", f"{parts.path}/{rtype}/{id}", headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise BenchError(f"read {rtype}/{id}: {response.status}")
            content = orjson.loads(body)
            if content["id"] != id:
                raise BenchError(f"read {rtype}/{id} returned {content['id']}")
            return content

        run_sequential(warmup, read)
        return run_sequential(targets, read)
    finally:
        connection.close()


def raw_reads(
    dialect: Dialect, targets: list[tuple[str, str]], warmup: list[tuple[str, str]]
) -> Run:
    """SELECT content by primary key and parse the JSON, on one reader connection."""
    select = dialect.sql(f"SELECT content FROM {RAW_TABLE} WHERE id = ?")
    with dialect.reader() as conn:

        def read(key: tuple[str, str]) -> object:
            id = key[1]
            row = conn.execute(select, (id,)).fetchone()
            if row is None:
                raise BenchError(f"raw row {id} missing")
            return dialect.decode_json(row[0])

        run_sequential(warmup, read)
        return run_sequential(targets, read)


def _client() -> httpx.Client:
    return httpx.Client(
        timeout=120.0,
        headers={"content-type": FHIR_JSON, "accept": FHIR_JSON},
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
    )
