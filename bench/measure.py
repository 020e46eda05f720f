"""Timing primitives: concurrent runs, latency percentiles and CPU use while measuring."""

from __future__ import annotations

import gc
import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


# Process trees whose CPU time every measurement records, by name (see `watch`).
_WATCHED: dict[str, list[int]] = {}
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def watch(groups: dict[str, list[int]]) -> None:
    """Record the CPU time of these process trees (root pids) in every later measurement."""
    _WATCHED.clear()
    _WATCHED.update(groups)


@dataclass
class Cpu:
    """CPU used during a measurement.

    `client` and `host` are in cores (1.0 = one core fully busy): `client` is this benchmark
    process (load generator, or the raw-database client), `host` the whole machine, including
    anything else running on it. `seconds` is CPU time per watched process tree (the API
    server, the PostgreSQL server) and `client_seconds` this process's CPU time.
    """

    client: float = 0.0
    host: float = 0.0
    client_seconds: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_cores": round(self.client, 2),
            "host_cores": round(self.host, 2),
            "cpu_seconds": {
                "client": round(self.client_seconds, 3),
                **{name: round(value, 3) for name, value in self.seconds.items()},
            },
        }


@dataclass
class Run:
    """One measured run: `count` items (resources) in `seconds`, and per-call latencies."""

    count: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.rate, 1),
            "cpu": self.cpu.as_dict(),
        }
        if self.latencies_ms:
            result["latency_ms"] = {
                "calls": len(self.latencies_ms),
                "p50": round(self.percentile(0.50), 3),
                "p90": round(self.percentile(0.90), 3),
                "p99": round(self.percentile(0.99), 3),
                "max": round(max(self.latencies_ms), 3),
            }
        return result


def combined(runs: Sequence[Run]) -> Run:
    """Runs measured in turns, as one: counts, times and latencies added up; cores (the
    client's and the host's) weighted by each run's time."""
    seconds = sum(run.seconds for run in runs)
    cpu = Cpu(client_seconds=sum(run.cpu.client_seconds for run in runs))
    for run in runs:
        share = run.seconds / seconds if seconds > 0 else 0.0
        cpu.client += run.cpu.client * share
        cpu.host += run.cpu.host * share
        for name, value in run.cpu.seconds.items():
            cpu.seconds[name] = cpu.seconds.get(name, 0.0) + value
    latencies = [value for run in runs for value in run.latencies_ms]
    return Run(sum(run.count for run in runs), seconds, latencies, cpu)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _host_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except OSError:
        return 0, 0
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields)
    return total - idle, total


def _tree_ticks(roots: Sequence[int]) -> dict[int, int]:
    """CPU ticks (user + system) of each live process in the trees under `roots`."""
    ticks: dict[int, int] = {}
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in ticks:
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        except (OSError, IndexError, ValueError):
            continue
    return ticks


def _watched_ticks() -> dict[str, dict[int, int]]:
    return {name: _tree_ticks(roots) for name, roots in _WATCHED.items()}


@contextmanager
def cpu_meter() -> Iterator[Cpu]:
    """Fills the yielded Cpu when the block ends."""
    cpu = Cpu()
    before = _watched_ticks()
    wall, own = time.perf_counter(), time.process_time()
    busy, total = _host_jiffies()
    yield cpu
    elapsed = time.perf_counter() - wall
    busy_end, total_end = _host_jiffies()
    cpu.client_seconds = time.process_time() - own
    for name, after in _watched_ticks().items():
        start = before.get(name, {})
        used = sum(max(0, value - start.get(pid, 0)) for pid, value in after.items())
        cpu.seconds[name] = used / _TICK
    if elapsed > 0:
        cpu.client = cpu.client_seconds / elapsed
    if total_end > total:
        cpu.host = (busy_end - busy) / (total_end - total) * (os.cpu_count() or 1)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No garbage-collector pauses in the measuring process while timing."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def run_concurrent(
    jobs: Sequence[T],
    clients: int,
    worker: Callable[[], AbstractContextManager[Callable[[T], int]]],
) -> Run:
    """Run every job once on `clients` threads; each call returns how many resources it wrote.

    Each thread opens its own worker (an HTTP client or a database connection) before the
    clock starts; the clock stops when the last job is done.
    """
    counter = itertools.count()
    barrier = threading.Barrier(clients + 1)
    failures: list[BaseException] = []
    latencies: list[list[float]] = [[] for _ in range(clients)]
    written = [0] * clients

    def thread_main(slot: int) -> None:
        try:
            with worker() as call:
                barrier.wait()
                while (index := next(counter)) < len(jobs):
                    started = time.perf_counter()
                    written[slot] += call(jobs[index])
                    latencies[slot].append((time.perf_counter() - started) * 1000)
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:
            failures.append(error)
            barrier.abort()

    threads = [threading.Thread(target=thread_main, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    with quiet_gc(), cpu_meter() as cpu:
        with suppress(threading.BrokenBarrierError):
            barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return Run(sum(written), seconds, [value for chunk in latencies for value in chunk], cpu)


def run_sequential(
    jobs: Sequence[T], call: Callable[[T], object], budget: float | None = None
) -> Run:
    """Call once per job, one after another, timing each call.

    With a `budget` (seconds), stop starting new calls once it is spent: `count` then says
    how many jobs (the first ones) were run.
    """
    latencies: list[float] = []
    with quiet_gc(), cpu_meter() as cpu:
        started = time.perf_counter()
        for job in jobs:
            begin = time.perf_counter()
            call(job)
            latencies.append((time.perf_counter() - begin) * 1000)
            if budget is not None and begin - started + latencies[-1] / 1000 >= budget:
                break
        seconds = time.perf_counter() - started
    return Run(len(latencies), seconds, latencies, cpu)
