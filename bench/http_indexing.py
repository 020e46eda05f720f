"""What search indexing costs writes over HTTP, as clients see it.

Two `tsunagu serve` processes on the same database: one as shipped, one started with
`TSUNAGU_SEARCH_INDEX=false` (honoured in insecure-dev only), which stores resources and their
AuditEvents without index rows. The same kinds of creates and transaction Bundles go to both
in alternating rounds (which server goes first alternates too), so both see the same machine
and database size. Both validate and audit as shipped; only the index rows differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bench import workloads
from bench.measure import Run, combined

T = TypeVar("T")
ROUNDS = 4  # alternating rounds per workload
WARMUP_CREATES = 40  # per server, untimed (the unindexed server starts cold)
WARMUP_BUNDLES = 2
UNINDEXED = {"TSUNAGU_SEARCH_INDEX": "false"}


@dataclass(frozen=True)
class HttpIndexing:
    """(indexed, unindexed) runs of single creates and of transaction Bundles."""

    creates: tuple[Run, Run]
    transactions: tuple[Run, Run]

    def as_dict(self) -> dict[str, Any]:
        def pair(runs: tuple[Run, Run]) -> dict[str, Any]:
            indexed, unindexed = runs
            return {
                "indexed": indexed.as_dict(),
                "no_search_indexes": unindexed.as_dict(),
                "ratio": round(indexed.rate / unindexed.rate if unindexed.rate else 0.0, 4),
            }

        return {"creates": pair(self.creates), "transactions": pair(self.transactions)}


def sizes(creates: int, bundles: int) -> tuple[int, int]:
    """Creates and Bundles to generate for `creates` and `bundles` timed ones per server
    (warm-up included), whole rounds only."""
    per_round = 2 * ROUNDS
    timed_creates = max(per_round, 2 * creates // per_round * per_round)
    timed_bundles = max(per_round, 2 * bundles // per_round * per_round)
    return 2 * WARMUP_CREATES + timed_creates, 2 * WARMUP_BUNDLES + timed_bundles


def measure(
    indexed_url: str,
    unindexed_url: str,
    bodies: list[dict[str, Any]],
    bundles: list[bytes],
    bundle_size: int,
    clients: int,
) -> HttpIndexing:
    """Warm-up writes to each server (untimed), then the rest of `bodies` as creates and of
    `bundles` as transactions, half to each server in alternating rounds."""
    urls = (indexed_url, unindexed_url)
    for number, url in enumerate(urls):
        warm = bodies[number * WARMUP_CREATES : (number + 1) * WARMUP_CREATES]
        workloads.http_creates(url, warm, clients)
        warm_bundles = bundles[number * WARMUP_BUNDLES : (number + 1) * WARMUP_BUNDLES]
        workloads.http_transactions(url, warm_bundles, bundle_size, clients)
    creates = _alternate(
        urls,
        bodies[2 * WARMUP_CREATES :],
        lambda url, chunk: workloads.http_creates(url, chunk, clients),
    )
    transactions = _alternate(
        urls,
        bundles[2 * WARMUP_BUNDLES :],
        lambda url, chunk: workloads.http_transactions(url, chunk, bundle_size, clients),
    )
    return HttpIndexing(creates, transactions)


def _alternate(
    urls: tuple[str, str], jobs: Sequence[T], run: Callable[[str, list[T]], Run]
) -> tuple[Run, Run]:
    """`jobs` in 2 x ROUNDS chunks; each round gives one chunk to each server, the first
    server of a round alternating."""
    size = len(jobs) // (2 * ROUNDS)
    if size == 0:
        raise ValueError("too few jobs for the alternating rounds")
    runs: tuple[list[Run], list[Run]] = ([], [])
    for number in range(ROUNDS):
        order = (0, 1) if number % 2 == 0 else (1, 0)
        for position, mode in enumerate(order):
            start = (2 * number + position) * size
            runs[mode].append(run(urls[mode], list(jobs[start : start + size])))
    return combined(runs[0]), combined(runs[1])
