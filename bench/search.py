"""The search-at-scale suite: typical clinical queries over a synthetic population.

Each query is run for random patients (seeded, so every backend and both paths see the same
requests) twice: in-process through `router.dispatch` (the FHIR search code and the database,
no HTTP) and over HTTP against a running `tsunagu serve` (one keep-alive `http.client`
connection, sequential, body parsed). Every call's latency covers all the pages it reads.
"""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from rich.progress import Progress

from bench import population
from bench.measure import Run, percentile, run_sequential
from bench.population import PatientInfo
from bench.workloads import FHIR_JSON, BenchError, load_in_chunks
from tsunagu.interactions.context import Context, FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.storage.sql.repository import SqlRepository

Pairs = tuple[tuple[str, str], ...]
PATIENT_SCOPED_P99_MS = 20.0  # the target for patient-scoped queries on PostgreSQL


@dataclass(frozen=True)
class Job:
    """One request: a path relative to the FHIR base and its query; `follow` reads every
    page through the Bundle's `next` links."""

    path: str
    query: Pairs
    follow: bool = False


@dataclass(frozen=True)
class Query:
    name: str
    shape: str  # what the request looks like, for the table
    patient_scoped: bool
    make: Callable[[random.Random, list[PatientInfo], list[PatientInfo]], Job]


def _observations_by_code_and_date(
    rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]
) -> Job:
    patient = rng.choice(patients)
    code, day = rng.choice(patient.observations)
    start = day.year - rng.randint(0, 1)
    return Job(
        "Observation",
        (
            ("subject", f"Patient/{patient.id}"),
            ("code", code),
            ("date", f"ge{start}-01-01"),
            ("date", f"lt{start + 2}-01-01"),
        ),
    )


def _medications_by_status(
    rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]
) -> Job:
    patient = rng.choice(patients)
    status = rng.choice(patient.statuses) if patient.statuses else "active"
    return Job("MedicationRequest", (("subject", f"Patient/{patient.id}"), ("status", status)))


def _patient_by_name_and_birthdate(
    rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]
) -> Job:
    patient = rng.choice(patients)
    return Job("Patient", (("name", patient.kana_name), ("birthdate", patient.birth_date)))


def _chained(rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]) -> Job:
    patient = rng.choice(patients)
    code, _day = rng.choice(patient.observations)
    identifier = f"{population.PATIENT_ID_SYSTEM}|{patient.identifier}"
    return Job("Observation", (("subject:Patient.identifier", identifier), ("code", code)))


def _include(rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]) -> Job:
    patient = rng.choice(patients)
    return Job(
        "MedicationRequest",
        (("subject", f"Patient/{patient.id}"), ("_include", "MedicationRequest:subject")),
    )


def _everything(rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]) -> Job:
    patient = rng.choice(chronic or patients)
    return Job(f"Patient/{patient.id}/$everything", (("_count", "100"),), follow=True)


def _patient_by_name(
    rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]
) -> Job:
    patient = rng.choice(patients)
    return Job("Patient", (("name", patient.kana_family), ("_count", "20")))


def _observations_by_code(
    rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]
) -> Job:
    patient = rng.choice(patients)
    while not patient.observations:
        patient = rng.choice(patients)
    code, _day = rng.choice(patient.observations)
    return Job("Observation", (("code", code), ("_count", "20")))


def _latest_observations_by_code(
    rng: random.Random, patients: list[PatientInfo], chronic: list[PatientInfo]
) -> Job:
    job = _observations_by_code(rng, patients, chronic)
    return Job(job.path, (*job.query, ("_sort", "-date")))


QUERIES = [
    Query(
        "observations by code + date",
        "Observation?subject=Patient/X&code=loinc|C&date=geY&date=ltY+2",
        True,
        _observations_by_code_and_date,
    ),
    Query(
        "medications by status",
        "MedicationRequest?subject=Patient/X&status=S",
        True,
        _medications_by_status,
    ),
    Query(
        "chained identifier",
        "Observation?subject:Patient.identifier=oid|N&code=loinc|C",
        True,
        _chained,
    ),
    Query(
        "_include subject",
        "MedicationRequest?subject=Patient/X&_include=MedicationRequest:subject",
        True,
        _include,
    ),
    Query(
        "$everything (chronic patient)",
        "Patient/X/$everything?_count=100, every page",
        True,
        _everything,
    ),
    Query(
        "patient by kana name + birthdate",
        "Patient?name=サトウタロウ&birthdate=YYYY-MM-DD",
        False,
        _patient_by_name_and_birthdate,
    ),
    Query(
        "patient by kana family name",
        "Patient?name=サトウ&_count=20 (first page)",
        False,
        _patient_by_name,
    ),
    Query(
        "observations by code (population)",
        "Observation?code=loinc|C&_count=20 (first page of tens of thousands)",
        False,
        _observations_by_code,
    ),
    Query(
        "latest observations by code (population)",
        "Observation?code=loinc|C&_sort=-date&_count=20 (first page, latest first)",
        False,
        _latest_observations_by_code,
    ),
]


@dataclass
class QueryRun:
    """One query measured both ways, with the mean rows (matches + includes) and pages."""

    query: Query
    inprocess: Run
    http: Run
    rows: float
    pages: float
    rows_agree: bool  # both paths returned the same number of rows for the same requests
    # Each page's own latency (one request), in-process and over HTTP.
    page_ms: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query.name,
            "shape": self.query.shape,
            "patient_scoped": self.query.patient_scoped,
            "rows_mean": round(self.rows, 2),
            "pages_mean": round(self.pages, 2),
            "rows_agree": self.rows_agree,
            "page_latency_ms": {
                path: {
                    "pages": len(values),
                    "p50": round(percentile(values, 0.5), 3),
                    "p99": round(percentile(values, 0.99), 3),
                }
                for path, values in zip(("inprocess", "http"), self.page_ms, strict=True)
                if values
            },
            "inprocess": self.inprocess.as_dict(),
            "http": self.http.as_dict(),
        }


# --- loading ----------------------------------------------------------------------------


def load_population(
    repo: SqlRepository,
    patients: int,
    *,
    chunk: int,
    seed: int,
    threads: int,
    progress: Progress,
) -> tuple[list[PatientInfo], int, Run]:
    """Store the population through `WriteSession.save`, about `chunk` resources a session.

    Returns what is known about each patient, the number of resources and the timed load.
    """
    total = population.count_resources(seed, patients)
    infos: list[PatientInfo] = []

    def store(batch: list[population.Resource]) -> None:
        with repo.session() as session:
            for rtype, id, content in batch:
                session.save(rtype, id, content, method="POST", previous=None)

    run = load_in_chunks(
        population.chunks(seed, patients, chunk, infos),
        threads,
        store,
        None,
        progress,
        f"load {patients:,} patients",
        total,
    )
    return infos, total, run


def describe_population(patients: int, seed: int) -> tuple[list[PatientInfo], int]:
    """What `load_population` returns about the population, without storing it (for a
    database loaded before): each patient's PatientInfo and the number of resources."""
    infos: list[PatientInfo] = []
    total = 0
    for number in range(patients):
        info, resources = population.patient_record(seed, number)
        infos.append(info)
        total += len(resources)
    return infos, total


# --- measuring --------------------------------------------------------------------------


def make_jobs(query: Query, infos: list[PatientInfo], count: int, seed: int) -> list[Job]:
    rng = random.Random(seed)
    chronic = [info for info in infos if info.chronic]
    return [query.make(rng, infos, chronic) for _ in range(count)]


def _entries(bundle: dict[str, Any]) -> int:
    return sum(
        1
        for entry in bundle.get("entry", ())
        if entry.get("search", {}).get("mode") in ("match", "include")
    )


def _next(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link", ()):
        if link.get("relation") == "next":
            url: str = link["url"]
            return url
    return None


@dataclass
class _Tally:
    """Rows (matches + includes) and pages seen by a caller since the last reset."""

    rows: int = 0
    pages: int = 0
    page_ms: list[float] = field(default_factory=list)  # each page's own latency

    def reset(self) -> None:
        self.rows = self.pages = 0
        self.page_ms = []


def inprocess_caller(ctx: Context, tally: _Tally) -> Callable[[Job], object]:
    """A call that runs a request (and its next pages) through `router.dispatch`."""
    prefix = ctx.base_url + "/"

    def call(job: Job) -> object:
        path, query = job.path, job.query
        while True:
            started = time.perf_counter()
            response = dispatch(ctx, FhirRequest("GET", path, query=query))
            tally.page_ms.append((time.perf_counter() - started) * 1000)
            bundle = response.resource
            if response.status != 200 or bundle is None or bundle["resourceType"] != "Bundle":
                raise BenchError(f"{path}: {response.status} {str(bundle)[:300]}")
            tally.rows += _entries(bundle)
            tally.pages += 1
            link = _next(bundle) if job.follow else None
            if link is None:
                return bundle
            if not link.startswith(prefix):
                raise BenchError(f"next link {link[:120]} is not under {prefix}")
            path, _, raw = link.removeprefix(prefix).partition("?")
            query = tuple(parse_qsl(raw, keep_blank_values=True))

    return call


@contextmanager
def http_caller(base_url: str, tally: _Tally) -> Iterator[Callable[[Job], object]]:
    """A call that makes the request (and follows next links) over one keep-alive
    `http.client` connection and parses every body."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=300)
    headers = {"accept": FHIR_JSON}

    def get(target: str) -> dict[str, Any]:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise BenchError(f"GET {target[:200]}: {response.status} {body[:300]!r}")
        bundle: dict[str, Any] = orjson.loads(body)
        return bundle

    def call(job: Job) -> object:
        target = f"{parts.path}/{job.path}?{urlencode(job.query)}"
        while True:
            started = time.perf_counter()
            bundle = get(target)
            tally.page_ms.append((time.perf_counter() - started) * 1000)
            tally.rows += _entries(bundle)
            tally.pages += 1
            link = _next(bundle) if job.follow else None
            if link is None:
                return bundle
            split = urlsplit(link)
            target = f"{split.path}?{split.query}"

    try:
        yield call
    finally:
        connection.close()


def measure(
    ctx: Context,
    base_url: str,
    infos: list[PatientInfo],
    iterations: int,
    budget: float,
    seed: int,
    report: Callable[[QueryRun], None],
) -> list[QueryRun]:
    """Every query, in-process and over HTTP, on the same random patients.

    Each path first warms up on other patients (a tenth as many calls, at least 5). A query
    whose in-process calls spend `budget` seconds stops there, so a query that scans the
    database cannot take the run hostage; the HTTP run then makes exactly the same calls.
    """
    warmups = max(5, iterations // 10)
    results: list[QueryRun] = []
    for number, query in enumerate(QUERIES):
        jobs = make_jobs(query, infos, iterations, seed + 100 * number)
        warmup = make_jobs(query, infos, warmups, seed + 100 * number + 1)
        local, remote = _Tally(), _Tally()
        call = inprocess_caller(ctx, local)
        warmup = warmup[: run_sequential(warmup, call, budget / 10).count]
        local.reset()
        inprocess = run_sequential(jobs, call, budget)
        jobs = jobs[: inprocess.count]
        with http_caller(base_url, remote) as call:
            run_sequential(warmup, call)
            remote.reset()
            over_http = run_sequential(jobs, call)
        result = QueryRun(
            query,
            inprocess,
            over_http,
            rows=local.rows / len(jobs),
            pages=local.pages / len(jobs),
            rows_agree=(local.rows, local.pages) == (remote.rows, remote.pages),
            page_ms=(local.page_ms, remote.page_ms),
        )
        report(result)
        results.append(result)
    return results
