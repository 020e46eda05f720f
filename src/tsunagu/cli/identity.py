"""`tsunagu seed` (a synthetic population) and `tsunagu link-patients` (record linkage).

Both write through the repository's write sessions in large batches: one transaction per
batch, every resource indexed for search as usual. They bypass the REST handlers (and their
per-request validation) for speed; the generator writes JP Core-shaped resources only.
"""

from __future__ import annotations

import csv
import multiprocessing
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tsunagu.bootstrap import Platform
from tsunagu.cli.common import DatabaseOption, open_platform
from tsunagu.identity import linkage
from tsunagu.identity.matching import Person, person_from_patient
from tsunagu.identity.synthetic.population import Population, duplicate_patient, resources
from tsunagu.settings import DEFAULT_DATABASE_URL
from tsunagu.storage.repository import ResourceRepository, StoredResource
from tsunagu.storage.sql.repository import SqlRepository

console = Console(stderr=True)
BATCH = 4000  # resources per transaction
READ_BATCH = 5000


def seed(
    patients: Annotated[int, typer.Option("--patients", min=1, help="How many people.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: same seed, same people.")] = 0,
    database: DatabaseOption = DEFAULT_DATABASE_URL,
    clinical: Annotated[
        bool, typer.Option("--clinical/--no-clinical", help="Diagnoses, drugs, labs too.")
    ] = True,
    duplicates: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of people registered again at a second facility."
        ),
    ] = 0.02,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Writer processes (PostgreSQL: one per core; SQLite has one writer anyway).",
        ),
    ] = 1,
) -> None:
    """Generate a synthetic Japanese population (Patient, Coverage history, insurers and,
    with --clinical, Condition / MedicationRequest / AllergyIntolerance / Observation)."""
    platform = open_platform(database)
    try:
        repo = platform.repository
        population = Population(seed)
        if repo.read("Patient", f"{population.prefix}0000000") is not None:
            console.print(
                f"[red]--seed {seed} のデータは既にあります。別の --seed を指定してください / "
                f"this database already holds the population of --seed {seed}; "
                "choose another --seed[/]"
            )
            raise typer.Exit(1)
        started = time.perf_counter()
        insurers = [
            i.organization()
            for i in population.insurers
            if repo.read("Organization", i.id) is None  # shared by every seed
        ]
        written = write_batches(repo, insurers)
        columns = (
            TextColumn("seeding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
        )
        batches = _batches(population, patients, seed, clinical, duplicates)
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("seeding", total=patients, rate="")

            def advance(done: int) -> None:
                rate = done / (time.perf_counter() - started)
                progress.update(task, completed=done, rate=f"{rate:,.0f} patients/s")

            if workers == 1:
                for done, batch in batches:
                    written += write_batches(repo, batch)
                    advance(done)
            else:
                written += _write_in_parallel(database, batches, workers, advance)
        elapsed = time.perf_counter() - started
        console.print(
            f"seeded {patients:,} patients ({written:,} resources) in {elapsed:,.1f} s: "
            f"{patients / elapsed:,.0f} patients/s, {written / elapsed:,.0f} resources/s"
        )
    finally:
        platform.close()


def _batches(
    population: Population, patients: int, seed: int, clinical: bool, duplicates: float
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(patients done, resources) in batches of about BATCH resources."""
    done = 0
    batch: list[dict[str, Any]] = []
    for person in population.people(patients):
        batch += resources(person, seed, with_clinical=clinical)
        rng = random.Random(f"{seed}:duplicate:{person.id}")
        if rng.random() < duplicates:
            facility = population.facility(person.municipality.prefecture.code, rng.randrange(8))
            batch.append(duplicate_patient(rng, person, facility))
        done += 1
        if len(batch) >= BATCH:
            yield done, batch
            batch = []
    yield done, batch


_WORKER: dict[str, Platform] = {}


def _start_worker(database: str) -> None:
    _WORKER["platform"] = open_platform(database)


def _worker_write(batch: list[dict[str, Any]]) -> int:
    return write_batches(_WORKER["platform"].repository, batch)


def _write_in_parallel(
    database: str,
    batches: Iterator[tuple[int, list[dict[str, Any]]]],
    workers: int,
    advance: Callable[[int], None],
) -> int:
    """Write batches from `workers` processes (generation stays here), at most two batches
    in flight per worker; returns how many resources were written."""
    written = last = 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _start_worker, (database,)) as pool:
        pending: dict[Future[int], int] = {}
        for done, batch in batches:
            last = done
            pending[pool.submit(_worker_write, batch)] = done
            if len(pending) >= 2 * workers:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    written += future.result()
                    advance(pending.pop(future))
        for future in pending:
            written += future.result()
        advance(last)
    return written


def write_batches(repo: ResourceRepository, items: list[dict[str, Any]]) -> int:
    """Create resources (new ids only) in one transaction per BATCH; returns how many."""
    for start in range(0, len(items), BATCH):
        with repo.session() as session:
            for resource in items[start : start + BATCH]:
                session.save(
                    resource["resourceType"], resource["id"], resource, method="PUT", previous=None
                )
    return len(items)


def link_patients(
    database: DatabaseOption = DEFAULT_DATABASE_URL,
) -> None:
    """Find records of the same person (blocking on normalised keys in DuckDB, scoring with
    the matcher) and link them both ways with Patient.link (type seealso). Never merges."""
    import duckdb

    platform = open_platform(database)
    try:
        repo = platform.repository
        started = time.perf_counter()
        people: dict[str, Person] = {}
        with tempfile.TemporaryDirectory(prefix="tsunagu-link-") as workdir:
            keys_csv = Path(workdir) / "keys.csv"
            with keys_csv.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                for pid, content in _patients(repo):
                    person = person_from_patient(content)
                    people[pid] = person
                    writer.writerows((pid, key) for key in linkage.blocking_keys(person))
            con = duckdb.connect()
            con.execute(
                "CREATE TABLE keys AS SELECT * FROM read_csv(?, header = false,"
                " columns = {'id': 'VARCHAR', 'key': 'VARCHAR'})",
                [str(keys_csv)],
            )
            pairs = con.execute(
                "WITH usable AS (SELECT key FROM keys GROUP BY key"
                " HAVING COUNT(*) BETWEEN 2 AND ?)"
                " SELECT DISTINCT a.id, b.id FROM keys a JOIN keys b"
                " ON a.key = b.key AND a.id < b.id WHERE a.key IN (SELECT key FROM usable)",
                [linkage.MAX_BLOCK],
            ).fetchall()
            con.close()
        scored = linkage.score_pairs(people, pairs)
        wanted = linkage.links(scored)
        changed = _write_links(repo, wanted)
        groups = linkage.clusters(scored)
        elapsed = time.perf_counter() - started
        console.print(
            f"{len(people):,} patients, {len(pairs):,} candidate pairs, {len(scored):,} linked "
            f"pairs in {len(groups):,} groups; {changed:,} patients updated "
            f"({elapsed:,.1f} s)"
        )
    finally:
        platform.close()


def _patients(repo: ResourceRepository) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every current Patient (id, content), read in keyset-paged chunks."""
    if not isinstance(repo, SqlRepository):
        raise typer.BadParameter("link-patients needs an SQL database", param_hint="--database")
    d = repo.dialect
    after = 0
    while True:
        with d.reader() as conn:
            chunk = conn.execute(
                d.sql(
                    "SELECT r.res_key, h.id, h.content FROM resources r"
                    " JOIN resource_history h ON h.seq = r.seq"
                    " WHERE r.resource_type = ? AND r.deleted = ? AND r.res_key > ?"
                    " ORDER BY r.res_key LIMIT ?"
                ),
                ("Patient", False, after, READ_BATCH),
            ).fetchall()
        if not chunk:
            return
        for _, pid, content in chunk:
            yield str(pid), d.decode_json(content)
        after = int(chunk[-1][0])


def _write_links(repo: ResourceRepository, wanted: dict[str, set[str]]) -> int:
    """Add the missing `seealso` links; returns how many Patients got a new version."""
    changed = 0
    ids = sorted(wanted)
    for start in range(0, len(ids), 500):
        with repo.session() as session:
            for pid in ids[start : start + 500]:
                current = session.read("Patient", pid)
                if current is None or current.content is None:
                    continue
                content = _with_links(current, wanted[pid])
                if content is not None:
                    session.save("Patient", pid, content, method="PUT", previous=current)
                    changed += 1
    return changed


def _with_links(current: StoredResource, others: set[str]) -> dict[str, Any] | None:
    assert current.content is not None
    links = list(current.content.get("link") or [])
    present = {
        (link.get("other") or {}).get("reference") for link in links if isinstance(link, dict)
    }
    missing = sorted(f"Patient/{o}" for o in others if f"Patient/{o}" not in present)
    if not missing:
        return None
    links += [{"other": {"reference": ref}, "type": "seealso"} for ref in missing]
    return {**current.content, "link": links}
