"""Command line and orchestration: one backend after the other, each in a fresh database."""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from rich.console import Console

import tsunagu
from bench import data, http_indexing, inprocess, search, validation, workloads
from bench.measure import Run, cpu_meter, watch
from bench.options import backend_server, loaded_before, mark_loaded, warm_page_cache
from bench.pg import BenchPostgres, start_durable_postgres
from bench.report import (
    BackendResult,
    SearchResult,
    Target,
    render,
    render_cpu,
    render_indexing,
    render_inprocess,
    render_search,
)
from bench.server import TsunaguServer
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.settings import Settings
from tsunagu.storage.sql.repository import SqlRepository

RESULTS_DIR = Path(__file__).parent / "results"
WORKERS = {"sqlite": 1, "postgresql": 2}
LOAD_THREADS = {"sqlite": 1, "postgresql": 4}
SEARCH = "search"  # the name of the search suite's databases (search.db, pg-search/)


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    suites: tuple[str, ...]
    size: int
    creates: int
    bundles: int
    bundle_size: int
    reads: int
    warmup: int
    clients: int
    chunk: int
    load_threads: int | None
    ingest_bundles: int
    patients: int
    iterations: int
    query_seconds: float
    seed: int
    keep: bool
    quick: bool
    data_dir: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "backends": list(self.backends),
            "suites": list(self.suites),
            "data_dir": None if self.data_dir is None else str(self.data_dir),
        }


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark Tsunagu against the raw database on SQLite and PostgreSQL.",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--suite",
        choices=["core", "search", "validation", "all"],
        default="all",
        help="core: writes and reads by id against a raw baseline; search: queries over a "
        "synthetic patient population; validation: profile validation throughput and write "
        "overhead (one core, SQLite); all: every suite (default)",
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small sizes)")
    parser.add_argument(
        "--size", type=int, help="core suite: resources stored before reading (1,000,000)"
    )
    parser.add_argument("--creates", type=int, help="single-resource creates (5,000)")
    parser.add_argument("--bundles", type=int, help="transaction Bundles to post (100)")
    parser.add_argument("--bundle-size", type=int, default=100, help="resources per Bundle")
    parser.add_argument("--reads", type=int, help="timed reads by id (20,000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--chunk", type=int, default=5000, help="resources per load session")
    parser.add_argument(
        "--load-threads",
        type=int,
        help="threads for the bulk load (default: 1 on SQLite, whose writes are serial; "
        "4 on PostgreSQL)",
    )
    parser.add_argument(
        "--ingest-bundles",
        type=int,
        help="core suite: timed in-process transaction Bundles per mode for the indexing "
        "overhead (40)",
    )
    parser.add_argument(
        "--patients",
        type=int,
        help="search suite: patients in the population, about 10 resources each (100,000)",
    )
    parser.add_argument(
        "--iterations", type=int, help="search suite: random patients per query (200)"
    )
    parser.add_argument(
        "--query-seconds",
        type=float,
        help="search suite: time budget per query and path; a query stops early once its "
        "in-process calls took this long (60; --quick: 15)",
    )
    parser.add_argument("--seed", type=int, default=20240401)
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="search suite: keep its databases here (search.db, pg-search/) and reuse them when "
        "a later run asks for the same population (--patients and --seed): load once, measure "
        "many times. The core and validation suites ignore it",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else small if quick else full

    reads = pick(args.reads, 20_000, 2_000)
    return Options(
        backends=("sqlite", "postgresql") if args.backend == "both" else (args.backend,),
        suites=("core", "search", "validation") if args.suite == "all" else (args.suite,),
        size=pick(args.size, 1_000_000, 20_000),
        creates=pick(args.creates, 5_000, 500),
        bundles=pick(args.bundles, 100, 20),
        bundle_size=args.bundle_size,
        reads=reads,
        warmup=max(200, reads // 10),
        clients=args.clients,
        chunk=args.chunk,
        load_threads=args.load_threads,
        ingest_bundles=pick(args.ingest_bundles, 40, 8),
        patients=pick(args.patients, 100_000, 2_000),
        iterations=pick(args.iterations, 200, 30),
        query_seconds=args.query_seconds or (15.0 if quick else 60.0),
        seed=args.seed,
        keep=bool(args.keep),
        quick=quick,
        data_dir=None if args.data_dir is None else args.data_dir.resolve(),
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    console = Console(record=True)
    if not console.is_terminal:
        console = Console(record=True, width=160)
    workdir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    started = time.perf_counter()
    plans = []
    if "core" in options.suites:
        plans.append(
            f"core: {options.size:,} stored, {options.creates:,} creates, "
            f"{options.bundles} x {options.bundle_size}-resource Bundles, "
            f"{options.reads:,} reads, {options.ingest_bundles} in-process Bundles per mode"
        )
    if "search" in options.suites:
        plans.append(
            f"search: {options.patients:,} patients, {options.iterations} iterations per query"
            + ("" if options.data_dir is None else f", databases kept in {options.data_dir}")
        )
    if "validation" in options.suites:
        plans.append("validation: 4 JP-CLINS resource types, one core, SQLite ingest on/off")
    source = _source_state()
    dirty = source["uncommitted_src_files"]
    if options.keep:  # what was measured, for reading EXPLAIN output against it later
        shutil.copytree(
            source["imported_from"],
            workdir / "tsunagu-src",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    console.print(
        f"[bold]Tsunagu benchmark[/]: {', '.join(options.backends)}; {'; '.join(plans)}; "
        f"{os.cpu_count()} CPUs; work dir {workdir}"
    )
    console.print(
        f"source: {source['commit'][:10]}"
        + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")
        + f"; imported from {source['imported_from']}"
    )
    results: list[BackendResult] = []
    searches: list[SearchResult] = []
    checked: validation.ValidationResult | None = None
    try:
        for backend in options.backends:
            if "core" in options.suites:
                results.append(run_backend(backend, options, workdir, console))
            if "search" in options.suites:
                searches.append(run_search(backend, options, workdir, console))
        if "validation" in options.suites:
            checked = validation.run(
                workdir, quick=options.quick, seed=options.seed, console=console
            )
    finally:
        if options.keep:
            console.print(f"kept {workdir} (with the measured source in tsunagu-src/)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.perf_counter() - started
    verdicts: list[tuple[str, Target]] = []
    if results:
        render(console, results)
        render_inprocess(console, results)
        render_indexing(console, results)
        render_cpu(console, results)
        verdicts += [(result.backend, target) for result in results for target in result.targets()]
    if searches:
        render_search(console, searches)
        verdicts += [(result.backend, t) for result in searches for t in result.targets()]
    if checked is not None:
        validation.render(console, checked)
    for backend, target in verdicts:
        verdict = "[green]PASS[/]" if target.passed else "[red]MISS[/]"
        console.print(f"  {backend}: {verdict} {target.name} ({target.detail})")
    path = write_json(options, source, results, searches, seconds, checked)
    console.print(f"total {seconds / 60:.1f} min; results in {path}")
    (RESULTS_DIR / "latest.txt").write_text(console.export_text())
    return 0


def run_backend(backend: str, options: Options, workdir: Path, console: Console) -> BackendResult:
    began = time.perf_counter()
    console.rule(f"[bold]{backend}")
    server_pg: BenchPostgres | None = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'tsunagu.db'}"
    else:
        console.print("starting a durable PostgreSQL (fsync on, on disk)...")
        server_pg = start_durable_postgres()
        url = server_pg.url
    try:
        background = _background_load()
        console.print(
            f"background host load before the run: {background['host_cores']:.2f} busy cores "
            f"(load average {background['loadavg_1min']:.2f})"
        )
        database_pids = {} if server_pg is None else {"postgres": [server_pg.postmaster_pid()]}
        watch(database_pids)
        pool_size = max(options.clients, options.load_threads or 4) + 2
        platform = open_platform(url, pool_size)
        repo = store_of(platform)
        try:
            settings = _settings(url, server_pg)
            console.print(f"database settings: {settings}")
            workloads.create_raw_table(repo.dialect)
            load_threads = options.load_threads or LOAD_THREADS[backend]
            with workloads.progress_bar() as progress:
                keys, load_storage, load_raw = workloads.bulk_load(
                    repo,
                    options.size,
                    chunk=options.chunk,
                    seed=options.seed,
                    threads=load_threads,
                    progress=progress,
                )
            console.print(
                f"loaded {options.size:,}: storage {load_storage.rate:,.0f}/s "
                f"({load_storage.seconds:.1f} s), raw {load_raw.rate:,.0f}/s "
                f"({load_raw.seconds:.1f} s)"
            )
            workloads.settle(url)
            log = workdir / f"server-{backend}.log"
            with TsunaguServer(url, workers=WORKERS[backend], log_file=log) as server:
                console.print(f"tsunagu serve: {server.base_url} ({server.workers} worker(s))")
                watch({"server": [server.pid], **database_pids})
                targets = workloads.pick(keys, options.reads, options.seed + 1)
                warmup = workloads.pick(keys, options.warmup, options.seed + 2)
                del keys
                http_read = workloads.http_reads(server.base_url, targets, warmup)
                raw_read = workloads.raw_reads(repo.dialect, targets, warmup)
                local_read = inprocess.reads(platform.context(inprocess.BASE_URL), targets, warmup)
                console.print(
                    f"read by id: HTTP p50 {http_read.percentile(0.5):.2f} ms, "
                    f"p99 {http_read.percentile(0.99):.2f} ms; in-process "
                    f"{local_read.percentile(0.5):.3f} / {local_read.percentile(0.99):.3f} ms "
                    f"(raw {raw_read.percentile(0.5):.3f} / {raw_read.percentile(0.99):.3f} ms)"
                )
                bodies = data.create_payloads(
                    random.Random(options.seed + 3), options.creates, options.size
                )
                http_create = workloads.http_creates(server.base_url, bodies, options.clients)
                raw_create = workloads.raw_creates(
                    repo.dialect, bodies, options.clients, options.seed + 4
                )
                console.print(f"create: {http_create.rate:,.0f}/s (raw {raw_create.rate:,.0f}/s)")
                bundles, batches = workloads.make_bundles(
                    options.bundles, options.bundle_size, options.seed + 5
                )
                http_tx = workloads.http_transactions(
                    server.base_url, bundles, options.bundle_size, options.clients
                )
                raw_tx = workloads.raw_transactions(repo.dialect, batches, options.clients)
                console.print(
                    f"transaction ingest: {http_tx.rate:,.0f}/s (raw {raw_tx.rate:,.0f}/s)"
                )
                create_count, bundle_count = http_indexing.sizes(options.creates, options.bundles)
                more_bodies = data.create_payloads(
                    random.Random(options.seed + 7), create_count, options.size + options.creates
                )
                more_bundles, _raw = workloads.make_bundles(
                    bundle_count, options.bundle_size, options.seed + 8
                )
                del _raw
                with TsunaguServer(
                    url,
                    workers=WORKERS[backend],
                    log_file=workdir / f"server-{backend}-unindexed.log",
                    environment=http_indexing.UNINDEXED,
                ) as unindexed:
                    watch({"server": [server.pid, unindexed.pid], **database_pids})
                    http_index = http_indexing.measure(
                        server.base_url,
                        unindexed.base_url,
                        more_bodies,
                        more_bundles,
                        options.bundle_size,
                        options.clients,
                    )
                for label, (indexed_run, plain_run) in (
                    ("creates", http_index.creates),
                    ("transaction ingest", http_index.transactions),
                ):
                    console.print(
                        f"HTTP {label}: {indexed_run.rate:,.0f}/s with search indexing, "
                        f"{plain_run.rate:,.0f}/s without"
                    )
            ingest_count = inprocess.ingest_bundle_count(options.ingest_bundles)
            ingest_bundles, _raw_batches = workloads.make_bundles(
                ingest_count, options.bundle_size, options.seed + 6
            )
            indexing = inprocess.indexing_overhead(
                url, platform.definitions, platform.registry, ingest_bundles, options.bundle_size
            )
            console.print(
                f"in-process transaction ingest: {indexing[0].rate:,.0f}/s with search indexing, "
                f"{indexing[1].rate:,.0f}/s without"
            )
            expected = (
                options.size
                + options.creates
                + options.bundles * options.bundle_size
                + ingest_count * options.bundle_size
                + create_count
                + bundle_count * options.bundle_size
            )
            stored = repo.count() - repo.count("AuditEvent")  # the server audits requests
        finally:
            repo.close()
    finally:
        if server_pg is not None:
            if options.keep:
                console.print(f"PostgreSQL left running: {server_pg.url} ({server_pg.cluster_dir})")
            else:
                server_pg.stop()
    if stored != expected:
        console.print(f"[red]count check failed: {stored:,} stored, {expected:,} expected[/]")
    return BackendResult(
        backend=backend,
        workers=WORKERS[backend],
        clients=options.clients,
        size=options.size,
        bundle_size=options.bundle_size,
        chunk=options.chunk,
        load_threads=load_threads,
        settings=settings,
        load=(load_storage, load_raw),
        read=(http_read, raw_read),
        create=(http_create, raw_create),
        transaction=(http_tx, raw_tx),
        inprocess_read=(local_read, raw_read),
        indexing=indexing,
        http_indexing=http_index,
        background=background,
        stored_after=stored,
        expected_after=expected,
        seconds=time.perf_counter() - began,
    )


def run_search(backend: str, options: Options, workdir: Path, console: Console) -> SearchResult:
    """The search suite: load the population (or, with --data-dir, reuse the one loaded there
    before), then time the queries."""
    began = time.perf_counter()
    console.rule(f"[bold]{backend}: search at scale")
    kept = options.data_dir is not None
    home = options.data_dir if options.data_dir is not None else workdir
    home.mkdir(parents=True, exist_ok=True)
    wanted = {"patients": options.patients, "seed": options.seed}
    reuse = kept and loaded_before(home, backend, SEARCH, wanted)
    with backend_server(
        backend,
        home,
        SEARCH,
        console,
        keep=kept,
        fresh=not reuse,
        leave_running=options.keep and not kept,
    ) as (url, server_pg):
        background = _background_load()
        console.print(f"background host load: {background['host_cores']:.2f} busy cores")
        database_pids = {} if server_pg is None else {"postgres": [server_pg.postmaster_pid()]}
        watch(database_pids)
        load_threads = options.load_threads or LOAD_THREADS[backend]
        platform = open_platform(url, load_threads + 2)
        repo = store_of(platform)
        try:
            settings = _settings(url, server_pg)
            if reuse:
                console.print(f"reusing the population loaded before in {home}; describing it...")
                infos, total = search.describe_population(options.patients, options.seed)
                load, load_threads = _recall_load(home, backend, total, load_threads)
                workloads.update_old_index(repo, url, console, "")
                read = warm_page_cache(home, backend, SEARCH, url)
                console.print(f"read {read / 1e9:.1f} GB of database files into the page cache")
            else:
                with workloads.progress_bar() as progress:
                    infos, total, load = search.load_population(
                        repo,
                        options.patients,
                        chunk=options.chunk,
                        seed=options.seed,
                        threads=load_threads,
                        progress=progress,
                    )
            chronic = sum(1 for info in infos if info.chronic)
            console.print(
                f"{'reused' if reuse else 'loaded'} {options.patients:,} patients ({chronic:,} "
                f"chronic), {total:,} resources: {'loaded at ' if reuse else ''}"
                f"{load.rate:,.0f}/s ({load.seconds / 60:.1f} min)"
            )
            if not reuse:
                workloads.settle(url)
                if kept:
                    _remember_load(home, backend, load, load_threads)
                    mark_loaded(home, backend, SEARCH, wanted)
                    console.print(f"kept in {home}: later runs with --data-dir reuse it")
            size = _database_bytes(url)
            log = workdir / f"server-search-{backend}.log"
            with TsunaguServer(url, workers=WORKERS[backend], log_file=log) as server:
                console.print(f"tsunagu serve: {server.base_url} ({server.workers} worker(s))")
                watch({"server": [server.pid], **database_pids})

                def progress_line(run: search.QueryRun) -> None:
                    console.print(
                        f"  {run.query.name}: {run.rows:,.1f} rows; in-process p50 "
                        f"{run.inprocess.percentile(0.5):.2f} / p99 "
                        f"{run.inprocess.percentile(0.99):.2f} ms; HTTP p50 "
                        f"{run.http.percentile(0.5):.2f} / p99 {run.http.percentile(0.99):.2f} ms"
                    )

                queries = search.measure(
                    platform.context(inprocess.BASE_URL),
                    server.base_url,
                    infos,
                    options.iterations,
                    options.query_seconds,
                    options.seed + 7,
                    progress_line,
                )
            stored = repo.count() - repo.count("AuditEvent")  # the server audits requests
        finally:
            platform.close()
    if stored != total:
        console.print(f"[red]count check failed: {stored:,} stored, {total:,} expected[/]")
    return SearchResult(
        backend=backend,
        workers=WORKERS[backend],
        patients=options.patients,
        resources=total,
        chronic=chronic,
        chunk=options.chunk,
        load_threads=load_threads,
        iterations=options.iterations,
        budget=options.query_seconds,
        settings=settings,
        load=load,
        database_bytes=size,
        queries=queries,
        background=background,
        stored_after=stored,
        seconds=time.perf_counter() - began,
    )


def _remember_load(home: Path, backend: str, load: Run, threads: int) -> None:
    """Record how the kept population was loaded, for the reports of later runs."""
    record = {"resources": load.count, "seconds": load.seconds, "threads": threads}
    (home / f"{SEARCH}-{backend}.load.json").write_bytes(orjson.dumps(record))


def _recall_load(home: Path, backend: str, total: int, threads: int) -> tuple[Run, int]:
    """The load recorded by `_remember_load` (zero if there is no record), and its threads."""
    path = home / f"{SEARCH}-{backend}.load.json"
    if not path.exists():
        return Run(total, 0.0), threads
    record = orjson.loads(path.read_bytes())
    return Run(int(record["resources"]), float(record["seconds"])), int(record["threads"])


def open_platform(url: str, pool_size: int) -> Platform:
    """Storage, definitions and registry exactly as the server builds them (composition
    root), schema migrated."""
    return build_platform(Settings(database_url=url, pool_size=pool_size, insecure_dev=True))


def store_of(platform: Platform) -> SqlRepository:
    repository = platform.repository
    if not isinstance(repository, SqlRepository):
        raise TypeError(f"expected the SQL repository, got {type(repository).__name__}")
    return repository


def _database_bytes(url: str) -> int:
    """The database's size on disk (PostgreSQL: the database; SQLite: file + WAL)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(
            candidate.stat().st_size
            for candidate in (path, Path(f"{path}-wal"))
            if candidate.exists()
        )
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return 0 if row is None else int(row[0])


def _background_load() -> dict[str, float]:
    """How busy the machine is without us (other processes skew every figure)."""
    with cpu_meter() as cpu:
        time.sleep(1.0)
    return {"host_cores": round(cpu.host, 2), "loadavg_1min": round(os.getloadavg()[0], 2)}


def _settings(url: str, server: BenchPostgres | None) -> dict[str, str]:
    if server is not None:
        return server.settings()
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as conn:
        # Per-connection pragmas are set by the dialect; these are the ones it sets.
        journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    return {
        "journal_mode": journal,
        "synchronous": "FULL (set by tsunagu.storage.sql.sqlite on every connection)",
        "sqlite_version": sqlite3.sqlite_version,
    }


def _source_state() -> dict[str, Any]:
    """The commit measured, whether src/ had uncommitted changes (they count too), and where
    the code was imported from."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout

    # Porcelain lines are "XY path": two status letters and a space before the path.
    changed = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted_src_files": changed,
        # A snapshot taken at start (bench/snapshot.py), unless run without `python -m bench`.
        "imported_from": str(Path(tsunagu.__file__).parent),
    }


def write_json(
    options: Options,
    source: dict[str, Any],
    results: list[BackendResult],
    searches: list[SearchResult],
    seconds: float,
    checked: validation.ValidationResult | None = None,
) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": round(seconds, 1),
        "options": options.as_dict(),
        "source": source,
        "host": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "results": {result.backend: result.as_dict() for result in results},
        "search": {result.backend: result.as_dict() for result in searches},
        "validation": None if checked is None else checked.as_dict(),
    }
    text = orjson.dumps(record, option=orjson.OPT_INDENT_2)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    label = "quick" if options.quick else "-".join(options.suites)
    (RESULTS_DIR / f"run-{stamp}-{label}.json").write_bytes(text)
    path = RESULTS_DIR / "latest.json"
    path.write_bytes(text)
    return path
