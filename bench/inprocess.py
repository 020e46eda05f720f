"""Figures measured in the benchmark process, through `router.dispatch` (no HTTP).

* read by id: what the FHIR read costs without the HTTP server and client around it;
* indexing overhead: transaction ingest with the real search registry, against the same
  ingest with a registry that has no search parameters (so no index rows are written).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from bench.measure import Run, cpu_meter, quiet_gc, run_sequential
from bench.workloads import BenchError
from tsunagu.fhir.definitions import Definitions
from tsunagu.interactions.context import Context, FhirRequest
from tsunagu.interactions.router import dispatch
from tsunagu.search.parameters import SearchRegistry, UnindexedRegistry
from tsunagu.storage.sql.connect import open_repository

BASE_URL = "http://bench.invalid/fhir"
INGEST_WARMUP = 2  # Bundles per mode before timing (compiles the registry's extractors)


def reads(ctx: Context, targets: list[tuple[str, str]], warmup: list[tuple[str, str]]) -> Run:
    """`dispatch(GET {type}/{id})` of each target, one after another, on this thread."""

    def read(key: tuple[str, str]) -> object:
        rtype, id = key
        response = dispatch(ctx, FhirRequest("GET", f"{rtype}/{id}"))
        if response.status != 200 or response.resource is None:
            raise BenchError(f"read {rtype}/{id}: {response.status}")
        if response.resource["id"] != id:
            raise BenchError(f"read {rtype}/{id} returned {response.resource['id']}")
        return response.resource

    run_sequential(warmup, read)
    return run_sequential(targets, read)


def indexing_overhead(
    url: str,
    definitions: Definitions,
    registry: SearchRegistry,
    bundles: Sequence[bytes],
    size: int,
    pool_size: int = 2,
) -> tuple[Run, Run]:
    """Transaction ingest in-process with search indexing (`registry`) and without it.

    Each mode gets its own repository on the same database. Bundles alternate between the two
    modes, and which goes first alternates every round, so both see the same database size and
    machine state. The first `INGEST_WARMUP` Bundles of each mode are not timed. Returns
    (indexed, not indexed) runs with per-Bundle latencies; rates are resources per second of
    time spent in `dispatch`.
    """
    if len(bundles) < 2 * (INGEST_WARMUP + 1):
        raise ValueError("too few Bundles for the indexing-overhead comparison")
    indexed_repo = open_repository(url, registry, pool_size=pool_size)
    plain_registry = UnindexedRegistry(definitions)
    plain_repo = open_repository(url, plain_registry, pool_size=pool_size)
    try:
        contexts = (
            Context(indexed_repo, definitions, registry, BASE_URL),
            Context(plain_repo, definitions, plain_registry, BASE_URL),
        )
        # Parsed before timing: the HTTP layer's JSON parsing is not what is compared here.
        bodies: list[dict[str, Any]] = [orjson.loads(body) for body in bundles]
        latencies: tuple[list[float], list[float]] = ([], [])
        rounds = len(bodies) // 2
        with quiet_gc(), cpu_meter() as cpu:
            for round_number in range(rounds):
                order = (0, 1) if round_number % 2 == 0 else (1, 0)
                for position, mode in enumerate(order):
                    body = bodies[2 * round_number + position]
                    started = time.perf_counter()
                    response = dispatch(contexts[mode], FhirRequest("POST", "", body=body))
                    elapsed = (time.perf_counter() - started) * 1000
                    _check(response.status, response.resource, size)
                    if round_number >= INGEST_WARMUP:
                        latencies[mode].append(elapsed)
    finally:
        indexed_repo.close()
        plain_repo.close()
    runs = tuple(Run(size * len(values), sum(values) / 1000, values, cpu) for values in latencies)
    return runs[0], runs[1]


def _check(status: int, bundle: dict[str, Any] | None, size: int) -> None:
    entries = (bundle or {}).get("entry", [])
    if status != 200 or len(entries) != size:
        raise BenchError(f"in-process transaction: {status} {str(bundle)[:300]}")
    if any(not entry["response"]["status"].startswith("201") for entry in entries):
        raise BenchError("in-process transaction did not create every entry")


def ingest_bundle_count(bundles: int) -> int:
    """Bundles needed for `bundles` timed ones per mode, warm-up included."""
    return 2 * (bundles + INGEST_WARMUP)
