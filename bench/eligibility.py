"""The eligibility suite: `Coverage/$eligibility` latency over a synthetic insured population.

`python -m bench --suite eligibility [--quick] [--backend sqlite|postgresql|both]
[--insured N] [--checks N]`. Loads N insured persons (a Patient and a JP Core Coverage each,
about 10 % of them expired or lost; families share a card) through `WriteSession.save` in
chunks, then times checks in-process through `router.dispatch` (the operation, FHIR search and
the database; no HTTP):

- `lookup`: checks without a facility (nothing is written): 80 % valid, 10 % unknown number,
  10 % wrong birth date;
- `with consent`: valid checks from a facility, so the first check per patient also writes the
  proposed Consent (one transaction, fsync).

The issue's target is p99 < 10 ms at 1,000,000 insured persons; the default here is 100,000
(`--quick`: 10,000) so that a run takes minutes.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.measure import Run, run_sequential
from bench.options import (
    backend_database,
    chosen_backends,
    loaded_before,
    mark_loaded,
    run_backends,
    save_results,
    suite_parser,
    warm_page_cache,
)
from bench.workloads import load_in_chunks, progress_bar, settle, update_old_index
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.identity.coverage import CoverageFacts, coverage_resource
from tsunagu.identity.insurance import INSURANCE_LAW_CODES, MemberId, with_check_digit
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.settings import Settings

TARGET_P99_MS = 10.0
TODAY = date(2025, 6, 1)
FACILITY = "1318814790"
LOAD_THREADS = {"sqlite": 1, "postgresql": 4}


@dataclass(frozen=True)
class Person:
    member: MemberId
    birth: date
    valid: bool


def _insurers(rng: random.Random, count: int) -> list[str]:
    laws = sorted(INSURANCE_LAW_CODES)
    found: set[str] = set()
    while len(found) < count:
        pref = f"{rng.randint(1, 47):02d}"
        serial = f"{rng.randint(0, 999):03d}"
        if rng.random() < 0.3:
            found.add(with_check_digit(pref + serial))  # 国保
        else:
            found.add(with_check_digit(rng.choice(laws) + pref + serial))
    return sorted(found)


def population(seed: int, count: int) -> list[Person]:
    """Deterministic insured persons: families of 1–4 share a card (枝番 00, 01, ...)."""
    rng = random.Random(seed)
    insurers = _insurers(rng, 500)
    people: list[Person] = []
    card = 0
    while len(people) < count:
        card += 1
        insurer = rng.choice(insurers)
        symbol = str(rng.randint(1, 9999))
        number = str(card)
        for branch in range(min(rng.choice((1, 1, 2, 3, 4)), count - len(people))):
            birth = date(1930, 1, 1) + timedelta(days=rng.randint(0, 33_000))
            people.append(
                Person(
                    MemberId.of(insurer, symbol, number, f"{branch:02d}"), birth, rng.random() > 0.1
                )
            )
    return people


def _resources(index: int, person: Person) -> list[tuple[str, str, dict[str, Any]]]:
    patient_id = f"p{index}"
    patient = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [person.member.identifier()],
        "birthDate": person.birth.isoformat(),
        "gender": "female" if index % 2 else "male",
    }
    start = date(2018, 4, 1)
    facts = CoverageFacts(
        member=person.member,
        start=start,
        end=None if person.valid else date(2024, 3, 31),
        beneficiary=f"Patient/{patient_id}",
        relationship="1" if person.member.branch == "00" else "2",
        copay_percent=30,
        reason_of_loss=None if person.valid or index % 2 else "03",
        status="active" if person.valid or not index % 2 else "cancelled",
    )
    coverage = {**coverage_resource(facts), "id": f"c{index}"}
    return [("Patient", patient_id, patient), ("Coverage", f"c{index}", coverage)]


def load(platform: Platform, people: list[Person], threads: int, chunk: int) -> Run:
    repository = platform.repository

    def chunks() -> Any:
        for start in range(0, len(people), chunk):
            batch: list[tuple[str, str, dict[str, Any]]] = []
            for index in range(start, min(start + chunk, len(people))):
                batch.extend(_resources(index, people[index]))
            yield batch

    def store(batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        with repository.session() as session:
            for resource_type, id, content in batch:
                session.save(resource_type, id, content, method="POST", previous=None)

    with progress_bar() as progress:
        return load_in_chunks(
            chunks(), threads, store, None, progress, "load insured", 2 * len(people)
        )


def _body(member: MemberId, birth: date, facility: str | None) -> dict[str, Any]:
    parameter: list[dict[str, Any]] = [
        {"name": "memberId", "valueString": member.format()},
        {"name": "birthDate", "valueDate": birth.isoformat()},
        {"name": "date", "valueDate": TODAY.isoformat()},
    ]
    if facility:
        parameter.append({"name": "facility", "valueString": facility})
    return {"resourceType": "Parameters", "parameter": parameter}


def _jobs(rng: random.Random, people: list[Person], count: int) -> list[dict[str, Any]]:
    jobs = []
    for _ in range(count):
        person = rng.choice(people)
        roll = rng.random()
        member, birth = person.member, person.birth
        if roll < 0.1:
            member = MemberId(member.insurer, member.symbol, "9" + member.number, member.branch)
        elif roll < 0.2:
            birth = birth + timedelta(days=1)
        jobs.append(_body(member, birth, None))
    return jobs


def _time(platform: Platform, jobs: list[dict[str, Any]]) -> tuple[Run, dict[str, int]]:
    codes: dict[str, int] = {}

    def call(body: dict[str, Any]) -> None:
        ctx = platform.context("urn:tsunagu:bench")
        response = dispatch(ctx, FhirRequest("POST", "Coverage/$eligibility", body=body))
        assert response.resource is not None
        code = response.resource["parameter"][0]["valueCoding"]["code"]
        codes[code] = codes.get(code, 0) + 1

    return run_sequential(jobs, call), codes


def run_backend(
    backend: str, args: argparse.Namespace, workdir: Path, console: Console
) -> dict[str, Any]:
    keep = args.data_dir is not None
    population_key = {"insured": args.insured, "seed": args.seed}
    with backend_database(backend, workdir, "eligibility", console, keep=keep) as url:
        platform = build_platform(Settings(database_url=url, pool_size=6, insecure_dev=True))
        try:
            people = population(args.seed, args.insured)
            if loaded_before(workdir, backend, "eligibility", population_key):
                loaded = None
                console.print(f"{backend}: reusing {len(people):,} insured loaded before")
                update_old_index(platform.repository, url, console, f"{backend}: ")
                read = warm_page_cache(workdir, backend, "eligibility", url)
                console.print(f"{backend}: read {read / 1e9:.1f} GB into the page cache")
            else:
                loaded = load(platform, people, LOAD_THREADS[backend], args.chunk)
                console.print(
                    f"{backend}: loaded {len(people):,} insured ({2 * len(people):,} resources) "
                    f"at {loaded.rate:,.0f} resources/s"
                )
                settle(url)  # statistics and visibility maps, as after any bulk load
                if keep:
                    mark_loaded(workdir, backend, "eligibility", population_key)
            rng = random.Random(args.seed + 1)
            _time(platform, _jobs(rng, people, min(200, args.checks)))  # warm caches
            lookup, codes = _time(platform, _jobs(rng, people, args.checks))
            valid = [p for p in people if p.valid]
            # A facility new to the database, so that first checks propose a Consent again
            # when a kept database is measured once more.
            facility = FACILITY if loaded is not None else f"131{time.time_ns() % 10**7:07d}"
            with_consent = [
                _body(p.member, p.birth, facility)
                for p in (rng.choice(valid) for _ in range(args.checks // 2))
            ]
            proposing, _ = _time(platform, with_consent)
        finally:
            platform.close()
    return {
        "backend": backend,
        "insured": len(people),
        "load_rate": loaded.rate if loaded is not None else None,
        "lookup": _figures(lookup),
        "codes": codes,
        "with_consent": _figures(proposing),
    }


def _figures(run: Run) -> dict[str, float]:
    return {
        "count": run.count,
        "p50_ms": run.percentile(0.5),
        "p99_ms": run.percentile(0.99),
        "rate": run.rate,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = suite_parser("eligibility", quick="10,000 insured, 500 checks")
    parser.add_argument("--insured", type=int, help="insured persons (100,000)")
    parser.add_argument("--checks", type=int, help="timed checks per backend (2,000)")
    parser.add_argument("--chunk", type=int, default=5000, help="resources per load session")
    args = parser.parse_args(argv)
    args.insured = args.insured or (10_000 if args.quick else 100_000)
    args.checks = args.checks or (500 if args.quick else 2_000)
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    console = Console(record=True)
    backends = chosen_backends(args.backend)
    started = time.perf_counter()
    console.print(
        f"[bold]eligibility[/]: {args.insured:,} insured, {args.checks:,} checks; "
        f"backends {', '.join(backends)}"
    )
    results = run_backends(
        "eligibility",
        backends,
        lambda b, workdir: run_backend(b, args, workdir, console),
        args.data_dir,
    )
    table = Table(title=f"Coverage/$eligibility, in-process, {args.insured:,} insured")
    for column in ("backend", "checks", "p50 ms", "p99 ms", "checks/s", "codes"):
        table.add_column(column)
    for result in results:
        for label in ("lookup", "with_consent"):
            figures = result[label]
            table.add_row(
                f"{result['backend']} {label.replace('_', ' ')}",
                f"{figures['count']:,}",
                f"{figures['p50_ms']:.2f}",
                f"{figures['p99_ms']:.2f}",
                f"{figures['rate']:,.0f}",
                json.dumps(result["codes"]) if label == "lookup" else "",
            )
    console.print(table)
    for result in results:
        p99 = result["lookup"]["p99_ms"]
        verdict = "[green]PASS[/]" if p99 < TARGET_P99_MS else "[red]MISS[/]"
        console.print(
            f"  {result['backend']}: {verdict} lookup p99 {p99:.2f} ms < {TARGET_P99_MS} ms "
            f"(at {result['insured']:,} insured; the issue's target is at 1,000,000)"
        )
    seconds = time.perf_counter() - started
    path = save_results("eligibility", args, results, seconds)
    console.print(f"total {seconds / 60:.1f} min; results in {path}")
    return 0
