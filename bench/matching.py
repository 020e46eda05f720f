"""The matching suite: precision, recall and latency of `Patient/$match` with known truth.

`python -m bench --suite matching [--quick] [--backend sqlite|postgresql|both] [--patients N]
[--queries N]`. Loads N synthetic patients (`identity.synthetic`: households, realistic names,
addresses and birthdates) through `WriteSession.save`, then sends `$match` queries in-process
through `router.dispatch` (operation, FHIR search and database; no HTTP). Each query describes
one stored patient written the way a receptionist might: kana typos, long vowels, variant
kanji, conversion slips, transposed birthdate digits, missing fields, other address formats,
old addresses, half-width or hiragana kana, birthdates typed in 和暦; one query in ten is about
someone who is not stored at all.

Figures: precision of the grades certain + probable (returned entries that are the right
patient), recall (queries whose patient is returned as certain or probable), precision of
`certain` alone, rank-1 accuracy, and latency p50/p99. The issue's targets: precision ≥ 0.99
and recall ≥ 0.95 for certain + probable, p99 < 50 ms at 1,000,000 patients (the default here
is 50,000; `--quick`: 5,000 patients and 300 queries, about two minutes).
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
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
from tsunagu.identity.dates import to_wareki
from tsunagu.identity.matching import Person
from tsunagu.identity.synthetic.population import Population, demographics, patient_resource
from tsunagu.identity.synthetic.variants import VARIANTS, vary, width_and_script
from tsunagu.interactions.context import FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.settings import Settings

TARGET_PRECISION = 0.99
TARGET_RECALL = 0.95
TARGET_P99_MS = 50.0
LOAD_THREADS = {"sqlite": 1, "postgresql": 4}
REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
# How often each kind of query is asked (the rest: written correctly, maybe in other script).
MIX: dict[str, float] = {
    "kana_typo": 0.10,
    "long_vowel": 0.08,
    "variant_kanji": 0.08,
    "kanji_homophone": 0.05,
    "transposed_date": 0.10,
    "missing_fields": 0.10,
    "address_format": 0.08,
    "moved": 0.06,
    "two_errors": 0.05,
    "absent": 0.10,
}


@dataclass(frozen=True)
class Query:
    kind: str
    truth: str | None  # the stored patient's id, None when the person is not stored
    body: dict[str, Any]


def _patient_json(p: Person, rng: random.Random) -> dict[str, Any]:
    """A Patient as a query: kanji and kana names, birthDate in one of the typed forms."""
    names = []
    if p.family_kanji or p.given_kanji:
        text = f"{p.family_kanji} {p.given_kanji}".strip()
        names.append({"extension": [{"url": REPRESENTATION, "valueCode": "IDE"}], "text": text})
    if p.family_kana or p.given_kana:
        names.append(
            {
                "extension": [{"url": REPRESENTATION, "valueCode": "SYL"}],
                "family": p.family_kana,
                "given": [p.given_kana],
            }
        )
    resource: dict[str, Any] = {"resourceType": "Patient", "name": names}
    if p.birthdate is not None:
        resource["birthDate"] = _typed_date(p.birthdate, rng)
    if p.sex:
        resource["gender"] = p.sex
    if p.address or p.postal_code:
        address: dict[str, str] = {}
        if p.address:
            address["text"] = p.address
        if p.postal_code:
            address["postalCode"] = p.postal_code
        resource["address"] = [address]
    return resource


def _typed_date(value: date, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4 or not 1900 <= value.year <= 2030:  # a mistyped year is typed as digits
        return value.isoformat()
    if roll < 0.6:
        return value.strftime("%Y%m%d")
    wareki = to_wareki(value)
    if roll < 0.8:
        return wareki
    era = {"明治": "M", "大正": "T", "昭和": "S", "平成": "H", "令和": "R"}[wareki[:2]]
    year = wareki[2 : wareki.index("年")]
    return f"{era}{1 if year == '元' else year}.{value.month}.{value.day}"


def make_queries(seed: int, stored: list[Person], ids: list[str], count: int) -> list[Query]:
    rng = random.Random(seed)
    strangers = [demographics(p) for p in Population(seed + 99, prefix="x").people(count)]
    kinds = list(MIX)
    weights = list(MIX.values())
    queries = []
    for n in range(count):
        kind = rng.choices([*kinds, "clean"], [*weights, 1 - sum(weights)])[0]
        if kind == "absent":
            person, truth = strangers[n], None
        else:
            index = rng.randrange(len(stored))
            person, truth = stored[index], ids[index]
        if kind == "two_errors":
            person = vary(rng, person, rng.sample(sorted(VARIANTS), 2))
        elif kind in VARIANTS:
            person = VARIANTS[kind](rng, person)
        if rng.random() < 0.3:
            person = width_and_script(rng, person)
        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": _patient_json(person, rng)}],
        }
        queries.append(Query(kind, truth, body))
    return queries


def load(platform: Platform, people: list[Any], threads: int, chunk: int) -> Run:
    repository = platform.repository

    def chunks() -> Any:
        for start in range(0, len(people), chunk):
            yield [
                ("Patient", person.id, patient_resource(person))
                for person in people[start : start + chunk]
            ]

    def store(batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        with repository.session() as session:
            for resource_type, id, content in batch:
                session.save(resource_type, id, content, method="PUT", previous=None)

    with progress_bar() as progress:
        return load_in_chunks(chunks(), threads, store, None, progress, "load", len(people))


def evaluate(platform: Platform, queries: list[Query]) -> tuple[Run, dict[str, Any]]:
    outcomes: list[tuple[Query, list[tuple[str, str]]]] = []

    def call(query: Query) -> None:
        ctx = platform.context("urn:tsunagu:bench")
        response = dispatch(ctx, FhirRequest("POST", "Patient/$match", body=query.body))
        assert response.resource is not None
        entries = response.resource.get("entry", [])
        outcomes.append(
            (
                query,
                [(e["resource"]["id"], e["search"]["extension"][0]["valueCode"]) for e in entries],
            )
        )

    run = run_sequential(queries, call)
    return run, score_outcomes(outcomes)


def score_outcomes(outcomes: list[tuple[Query, list[tuple[str, str]]]]) -> dict[str, Any]:
    returned = right = certain_returned = certain_right = 0
    present = recalled = rank1 = 0
    by_kind: dict[str, Counter[str]] = {}
    for query, entries in outcomes:
        counts = by_kind.setdefault(query.kind, Counter())
        counts["queries"] += 1
        strong = [(pid, grade) for pid, grade in entries if grade in ("certain", "probable")]
        returned += len(strong)
        right += sum(pid == query.truth for pid, _ in strong)
        counts["wrong"] += sum(pid != query.truth for pid, _ in strong)
        certain = [pid for pid, grade in strong if grade == "certain"]
        certain_returned += len(certain)
        certain_right += sum(pid == query.truth for pid in certain)
        if query.truth is not None:
            present += 1
            if any(pid == query.truth for pid, _ in strong):
                recalled += 1
                counts["recalled"] += 1
            if entries and entries[0][0] == query.truth:
                rank1 += 1
    return {
        "precision": right / returned if returned else 1.0,
        "recall": recalled / present if present else 1.0,
        "certain_precision": certain_right / certain_returned if certain_returned else 1.0,
        "rank1": rank1 / present if present else 1.0,
        "returned": returned,
        "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
    }


def run_backend(
    backend: str, args: argparse.Namespace, workdir: Path, console: Console
) -> dict[str, Any]:
    keep = args.data_dir is not None
    population_key = {"patients": args.patients, "seed": args.seed}
    with backend_database(backend, workdir, "matching", console, keep=keep) as url:
        settings = Settings(database_url=url, pool_size=6, insecure_dev=True, validation=False)
        platform = build_platform(settings)
        try:
            population = Population(args.seed)
            people = list(population.people(args.patients))
            loaded: Run | None = None
            if loaded_before(workdir, backend, "matching", population_key):
                console.print(f"{backend}: reusing {len(people):,} patients loaded before")
                update_old_index(platform.repository, url, console, f"{backend}: ")
                read = warm_page_cache(workdir, backend, "matching", url)
                console.print(f"{backend}: read {read / 1e9:.1f} GB into the page cache")
            else:
                loaded = load(platform, people, LOAD_THREADS[backend], args.chunk)
                console.print(
                    f"{backend}: loaded {len(people):,} patients at {loaded.rate:,.0f} patients/s"
                )
                settle(url)  # statistics and visibility maps, as after any bulk load
                if keep:
                    mark_loaded(workdir, backend, "matching", population_key)
            stored = [demographics(p) for p in people]
            ids = [p.id for p in people]
            warm = make_queries(args.seed + 7, stored, ids, min(50, args.queries))
            evaluate(platform, warm)
            timed, figures = evaluate(
                platform, make_queries(args.seed + 1, stored, ids, args.queries)
            )
        finally:
            platform.close()
    return {
        "backend": backend,
        "patients": len(people),
        "load_rate": loaded.rate if loaded is not None else None,
        "queries": timed.count,
        "p50_ms": timed.percentile(0.5),
        "p99_ms": timed.percentile(0.99),
        **figures,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = suite_parser("matching", quick="5,000 patients, 300 queries")
    parser.add_argument("--patients", type=int, help="patients stored (50,000)")
    parser.add_argument("--queries", type=int, help="timed $match queries per backend (1,000)")
    parser.add_argument("--chunk", type=int, default=2000, help="resources per load session")
    args = parser.parse_args(argv)
    args.patients = args.patients or (5_000 if args.quick else 50_000)
    args.queries = args.queries or (300 if args.quick else 1_000)
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    console = Console(record=True, width=120)
    backends = chosen_backends(args.backend)
    started = time.perf_counter()
    console.print(
        f"[bold]matching[/]: {args.patients:,} patients, {args.queries:,} queries; "
        f"backends {', '.join(backends)}"
    )
    results = run_backends(
        "matching",
        backends,
        lambda b, workdir: run_backend(b, args, workdir, console),
        args.data_dir,
    )
    table = Table(title=f"Patient/$match, in-process, {args.patients:,} patients")
    for column in (
        "backend", "queries", "precision c+p", "recall c+p", "precision certain", "rank 1",
        "p50 ms", "p99 ms",
    ):  # fmt: skip
        table.add_column(column)
    for r in results:
        table.add_row(
            r["backend"],
            f"{r['queries']:,}",
            f"{r['precision']:.4f}",
            f"{r['recall']:.4f}",
            f"{r['certain_precision']:.4f}",
            f"{r['rank1']:.4f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
        )
    console.print(table)
    kinds = Table(title="by kind of query (recalled = certain or probable; wrong = other ids)")
    for column in ("backend", "kind", "queries", "recalled", "wrong"):
        kinds.add_column(column)
    for r in results:
        for kind, counts in r["by_kind"].items():
            kinds.add_row(
                r["backend"],
                kind,
                str(counts.get("queries", 0)),
                str(counts.get("recalled", 0)),
                str(counts.get("wrong", 0)),
            )
    console.print(kinds)
    for r in results:
        ok = (
            r["precision"] >= TARGET_PRECISION
            and r["recall"] >= TARGET_RECALL
            and r["p99_ms"] < TARGET_P99_MS
        )
        verdict = "[green]PASS[/]" if ok else "[red]MISS[/]"
        console.print(
            f"  {r['backend']}: {verdict} precision {r['precision']:.4f} ≥ {TARGET_PRECISION}, "
            f"recall {r['recall']:.4f} ≥ {TARGET_RECALL}, p99 {r['p99_ms']:.1f} ms < "
            f"{TARGET_P99_MS} ms (at {r['patients']:,} patients; the target is at 1,000,000)"
        )
    seconds = time.perf_counter() - started
    path = save_results("matching", args, results, seconds)
    console.print(f"total {seconds / 60:.1f} min; results in {path}")
    return 0
