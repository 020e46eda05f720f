"""What the single-suite benchmarks (`python -m bench --suite NAME`) share: the common
command-line options, a scratch folder and a database per backend, and the results file."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from rich.console import Console

from bench.pg import BenchPostgres, start_durable_postgres

DEFAULT_SEED = 20240401
RESULTS_DIR = Path(__file__).parent / "results"
T = TypeVar("T")


def suite_parser(suite: str, quick: str) -> argparse.ArgumentParser:
    """A parser for one suite with the common options: --suite, --backend, --quick, --seed.

    `quick` is the help text of --quick (what the smaller run does); the suite adds its own
    size options.
    """
    parser = argparse.ArgumentParser(prog=f"python -m bench --suite {suite}")
    parser.add_argument("--suite", choices=[suite], default=suite)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the loaded databases here and reuse them when a later run asks for the same "
        "population (load once, measure many times: a 1,000,000-person load takes long)",
    )
    return parser


def chosen_backends(choice: str) -> tuple[str, ...]:
    """The backends a --backend value stands for, in run order."""
    return ("sqlite", "postgresql") if choice == "both" else (choice,)


def run_backends(
    suite: str,
    backends: Sequence[str],
    run: Callable[[str, Path], T],
    data_dir: Path | None = None,
) -> list[T]:
    """`run(backend, workdir)` for each backend in one folder: `data_dir` (kept), or a scratch
    folder removed afterwards."""
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        return [run(backend, data_dir.resolve()) for backend in backends]
    workdir = Path(tempfile.mkdtemp(prefix=f"tsunagu-bench-{suite}-"))
    try:
        return [run(backend, workdir) for backend in backends]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def backend_server(
    backend: str,
    workdir: Path,
    name: str,
    console: Console | None = None,
    *,
    keep: bool = False,
    fresh: bool = False,
    leave_running: bool = False,
) -> Iterator[tuple[str, BenchPostgres | None]]:
    """The URL of a database for one backend's run, and the PostgreSQL server if it is one:
    the SQLite file `workdir/NAME.db`, or a durable PostgreSQL (fsync on, on disk) started
    here and stopped on leaving.

    With `keep` the PostgreSQL cluster lives in `workdir/pg-NAME`, is reused if it is there,
    and is kept. With `fresh` the database starts empty even if it was kept (a load that did
    not finish leaves it half full) and its `mark_loaded` record is forgotten first. With
    `leave_running` the PostgreSQL server is not stopped (to look at it after the run).
    """
    if fresh:
        _marker(workdir, backend, name).unlink(missing_ok=True)
    if backend == "sqlite":
        path = workdir / f"{name}.db"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield f"sqlite:///{path}", None
        return
    if console is not None:
        console.print("starting a durable PostgreSQL (fsync on, on disk)...")
    server = start_durable_postgres(keep_at=workdir / f"pg-{name}" if keep else None)
    try:
        if fresh and keep:
            server.recreate_database()
        yield server.url, server
    finally:
        if leave_running:
            if console is not None:
                console.print(f"PostgreSQL left running: {server.url} ({server.cluster_dir})")
        else:
            server.stop(remove=not keep)


@contextmanager
def backend_database(
    backend: str, workdir: Path, name: str, console: Console | None = None, keep: bool = False
) -> Iterator[str]:
    """The URL of `backend_server`'s database (for suites that need nothing else)."""
    with backend_server(backend, workdir, name, console, keep=keep) as (url, _server):
        yield url


def loaded_before(workdir: Path, backend: str, name: str, population: dict[str, Any]) -> bool:
    """Whether a kept database already holds exactly this population (see `mark_loaded`)."""
    marker = _marker(workdir, backend, name)
    return marker.exists() and json.loads(marker.read_text()) == population


def mark_loaded(workdir: Path, backend: str, name: str, population: dict[str, Any]) -> None:
    """Record, after a complete load, which population a kept database holds."""
    _marker(workdir, backend, name).write_text(json.dumps(population))


def warm_page_cache(workdir: Path, backend: str, name: str, url: str | None = None) -> int:
    """Read a kept database's files once (returns the bytes read), so that a run on reused
    data starts, like a run right after loading and like a server that has been up a while,
    with the files in the operating system's page cache rather than on disk. With the
    PostgreSQL server's `url`, its shared buffers are filled too (`pg_buffers`)."""
    if backend == "postgresql" and url is not None:
        prewarm_buffers(url)
    root = workdir / (f"{name}.db" if backend == "sqlite" else f"pg-{name}")
    if root.is_file():
        files = [root, *(Path(f"{root}{suffix}") for suffix in ("-wal", "-shm"))]
    else:
        files = sorted(path for path in root.rglob("*") if path.is_file())
    files = [path for path in files if path.exists()]
    # Read by another process: closing a file descriptor of an SQLite database in this
    # process would drop the POSIX locks its open connections hold on the file (SQLite's
    # "how to corrupt" §2.2): another process could then reset the write-ahead log under
    # them, and they would read a malformed page.
    subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL, check=False)
    return sum(path.stat().st_size for path in files if path.exists())


def prewarm_buffers(url: str) -> int:
    """Load the database's tables and indexes into PostgreSQL's shared buffers, as far as they
    fit (the `pg_prewarm` extension, shipped with PostgreSQL's contrib modules; nothing when
    it is missing). Returns the blocks read."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except psycopg.Error:
            return 0
        # Indexes first: when everything does not fit, the searches' entry points stay.
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_prewarm(c.oid)), 0) FROM (SELECT c.oid FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('i', 'r', 't')"
            " AND c.relpersistence = 'p' ORDER BY c.relkind = 'i' DESC, c.oid) c"
        ).fetchone()
    return int(row[0]) if row else 0


def _marker(workdir: Path, backend: str, name: str) -> Path:
    return workdir / f"{name}-{backend}.population.json"


def save_results(suite: str, args: argparse.Namespace, results: Any, seconds: float) -> Path:
    """Write `bench/results/SUITE-quick|full-STAMP.json` (the arguments, results, duration)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{suite}-{'quick' if args.quick else 'full'}-{stamp}.json"
    path.write_text(
        json.dumps(
            {"args": vars(args), "results": results, "seconds": seconds}, indent=2, default=str
        )
    )
    return path
