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
def backend_database(
    backend: str, workdir: Path, name: str, console: Console | None = None, keep: bool = False
) -> Iterator[str]:
    """The URL of a database for one backend's run: the SQLite file `workdir/NAME.db`, or a
    durable PostgreSQL (fsync on, on disk) started here and stopped on leaving. With `keep`
    the PostgreSQL cluster lives in `workdir/pg-NAME`, is reused if it is there, and is kept."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    if console is not None:
        console.print("starting a durable PostgreSQL (fsync on, on disk)...")
    server = start_durable_postgres(keep_at=workdir / f"pg-{name}" if keep else None)
    try:
        yield server.url
    finally:
        server.stop(remove=not keep)


def loaded_before(workdir: Path, backend: str, name: str, population: dict[str, Any]) -> bool:
    """Whether a kept database already holds exactly this population (see `mark_loaded`)."""
    marker = workdir / f"{name}-{backend}.population.json"
    return marker.exists() and json.loads(marker.read_text()) == population


def mark_loaded(workdir: Path, backend: str, name: str, population: dict[str, Any]) -> None:
    """Record, after a complete load, which population a kept database holds."""
    (workdir / f"{name}-{backend}.population.json").write_text(json.dumps(population))


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
