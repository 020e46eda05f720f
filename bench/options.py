"""What the single-suite benchmarks (`python -m bench --suite NAME`) share: the common
command-line options, a scratch folder and a database per backend, and the results file."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from bench.pg import start_durable_postgres

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
    return parser


def chosen_backends(choice: str) -> tuple[str, ...]:
    """The backends a --backend value stands for, in run order."""
    return ("sqlite", "postgresql") if choice == "both" else (choice,)


def run_backends(suite: str, backends: Sequence[str], run: Callable[[str, Path], T]) -> list[T]:
    """`run(backend, workdir)` for each backend in one scratch folder, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"tsunagu-bench-{suite}-"))
    try:
        return [run(backend, workdir) for backend in backends]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def backend_database(
    backend: str, workdir: Path, name: str, console: Console | None = None
) -> Iterator[str]:
    """The URL of a database for one backend's run: the SQLite file `workdir/NAME.db`, or a
    durable PostgreSQL (fsync on, on disk) started here and stopped on leaving."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    if console is not None:
        console.print("starting a durable PostgreSQL (fsync on, on disk)...")
    server = start_durable_postgres()
    try:
        yield server.url
    finally:
        server.stop()


def save_results(suite: str, args: argparse.Namespace, results: Any, seconds: float) -> Path:
    """Write `bench/results/SUITE-quick|full-STAMP.json` (the arguments, results, duration)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{suite}-{'quick' if args.quick else 'full'}-{stamp}.json"
    path.write_text(
        json.dumps({"args": vars(args), "results": results, "seconds": seconds}, indent=2)
    )
    return path
