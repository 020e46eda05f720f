"""`python -m bench --suite security`: what authentication, consent and audit cost.

Read by id and search throughput over HTTP, `--clients` concurrent clients, against four
servers on the same database, one after the other:

* **baseline**: `--insecure-dev` with audit off (`TSUNAGU_AUDIT=false`): no security at all;
* **dev + audit**: `--insecure-dev` as shipped (every request audited, anonymous agent);
* **secure**: authentication on, a physician's token, consent checks, audit (the product);
* **secure, waiting**: the same with `TSUNAGU_AUDIT_WAIT=true` (reads answer only once their
  AuditEvents are committed: the durability trade-off of docs/audit.md).

Each figure is printed with its ratio to the baseline (what security costs in all, audit
included). The issue's target compares the secure server with `--insecure-dev`, which the issue
defines as the server with authentication off, and in which every request is still audited
("every request ... writes an AuditEvent"): secure ÷ dev + audit ≥ 0.75 (at most 25% slower)
is the verdict printed, next to the ratio to the no-audit baseline, which shows what audit
itself costs (docs/audit.md, ADR 0004). The server's CPU time per request (its whole process
tree, audit writer included) is printed too, with the baseline's CPU per request divided by
the mode's: on a shared machine that ratio is steadier than throughput, and it is what
throughput tends to when the server is CPU-bound. The population belongs to the physician's
facility, so every request is allowed and does the same work in every mode. After the secure
run the audit chain must verify and have grown by at least one event per request.

Every mode runs `--rounds` times (3; 1 with `--quick`), the modes taking turns, each time on
a fresh server and a settled database; each figure reported is the median of its rounds. On
a shared 2-core machine one round of a mode can be much slower than the next, and a ratio of
two single rounds then says more about the machine than about the server.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.measure import Run, run_concurrent, watch
from bench.options import backend_database, chosen_backends, run_backends, suite_parser
from bench.pg import free_port
from bench.workloads import settle
from tsunagu.bootstrap import Platform, build_platform
from tsunagu.security.principal import Role
from tsunagu.security.tokens import Grant
from tsunagu.settings import Settings

RESULTS_DIR = Path(__file__).parent / "results"
FACILITY = "1318814790"
FACILITY_TAG = "http://tsunagu.jp/fhir/CodeSystem/facility"
WORKERS = {"sqlite": 1, "postgresql": 2}
TARGET_RATIO = 0.75


@dataclass(frozen=True)
class Mode:
    name: str
    secure: bool
    env: dict[str, str]


MODES = (
    Mode("baseline (insecure-dev, no audit)", False, {"TSUNAGU_AUDIT": "false"}),
    Mode("dev + audit", False, {}),
    Mode("secure: auth + consent + audit", True, {}),
    Mode("secure, reads wait for their audit", True, {"TSUNAGU_AUDIT_WAIT": "true"}),
)


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    patients: int
    requests: int
    clients: int
    seed: int
    rounds: int = 1


def parse(argv: list[str]) -> Options:
    parser = suite_parser("security", quick="small sizes (about a minute)")
    parser.add_argument("--patients", type=int, help="patients, 4 Observations each (2,000)")
    parser.add_argument("--requests", type=int, help="timed requests per workload (4,000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument(
        "--rounds", type=int, help="rounds of every mode; each figure is the median (3, quick 1)"
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    return Options(
        backends=chosen_backends(args.backend),
        patients=args.patients or (300 if quick else 2_000),
        requests=args.requests or (600 if quick else 4_000),
        clients=args.clients,
        seed=args.seed,
        rounds=args.rounds or (1 if quick else 3),
    )


def main(argv: list[str]) -> int:
    options = parse(argv)
    console = Console(record=True, width=140)
    started = time.perf_counter()
    runs = run_backends(
        "security", options.backends, lambda b, workdir: _run_backend(b, options, workdir, console)
    )
    results = dict(zip(options.backends, runs, strict=True))
    passed = _render(console, results)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"security-{'-'.join(options.backends)}.json"
    path.write_text(
        json.dumps(
            {
                "options": options.__dict__,
                "results": results,
                "seconds": time.perf_counter() - started,
            },
            indent=2,
            default=list,
        )
    )
    console.print(f"total {(time.perf_counter() - started) / 60:.1f} min; results in {path}")
    return 0 if passed else 1


def _run_backend(
    backend: str, options: Options, workdir: Path, console: Console
) -> dict[str, dict[str, Any]]:
    console.rule(f"[bold]security: {backend}")
    with backend_database(backend, workdir, "security") as url:
        ids = _load(url, options)
        console.print(f"loaded {len(ids):,} patients with 4 Observations each")
        rng = random.Random(options.seed)
        reads = [f"Patient/{rng.choice(ids)}" for _ in range(options.requests)]
        searches = [f"Observation?patient={rng.choice(ids)}" for _ in range(options.requests)]
        rounds: dict[str, list[dict[str, Any]]] = {mode.name: [] for mode in MODES}
        for number in range(options.rounds):
            for mode in MODES:
                figures = _run_mode(url, backend, mode, workdir, options, reads, searches)
                rounds[mode.name].append(figures)
                console.print(
                    f"round {number + 1}, {mode.name}: read {figures['read_per_second']:,.0f}/s"
                    f" ({figures['read_cpu_ms']:.2f} ms CPU), search"
                    f" {figures['search_per_second']:,.0f}/s ({figures['search_cpu_ms']:.2f} ms"
                    f" CPU), {figures['audit_events']:,} AuditEvents"
                )
        _check_chain(url)
        return {name: _median(runs) for name, runs in rounds.items()}


def _run_mode(
    url: str,
    backend: str,
    mode: Mode,
    workdir: Path,
    options: Options,
    reads: list[str],
    searches: list[str],
) -> dict[str, Any]:
    """One measurement of a mode on a fresh server: throughput, latency, CPU per request."""
    # Each mode starts from a settled database (the last one's AuditEvents vacuumed and
    # analysed), so PostgreSQL's autovacuum does not run during one mode only.
    settle(url)
    with _server(url, backend, mode, workdir) as base:
        headers = _headers(url, base) if mode.secure else {}
        before = _links(url)
        # Warm up both workloads on the fresh server: with 50 reads only, the first mode of
        # a run sometimes measured half its later rounds' reads (cold caches, young process).
        warm = max(50, len(reads) // 10)
        _measure(base, headers, reads[-warm:], options.clients)
        _measure(base, headers, searches[-warm:], options.clients)
        read = _measure(base, headers, reads, options.clients)
        search = _measure(base, headers, searches, options.clients)
    grown = _links(url) - before  # after shutdown, which commits what is queued
    if mode.secure and grown < 2 * len(reads):
        raise RuntimeError(f"{mode.name}: only {grown} AuditEvents for the requests")
    return {
        "read_per_second": round(read.rate, 1),
        "search_per_second": round(search.rate, 1),
        "read_p50_ms": round(read.percentile(0.5), 2),
        "search_p50_ms": round(search.percentile(0.5), 2),
        "read_cpu_ms": round(_cpu_ms(read), 3),
        "search_cpu_ms": round(_cpu_ms(search), 3),
        "audit_events": grown,
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds (the machine is shared: one round can be slow)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]} | {
        "rounds": len(runs)
    }


def _cpu_ms(run: Run) -> float:
    """The server's CPU time per request during the run, in milliseconds."""
    return run.cpu.seconds.get("server", 0.0) * 1000 / max(run.count, 1)


def _load(url: str, options: Options) -> list[str]:
    """Patients of the benchmark facility, each with four Observations (no audit)."""
    platform = build_platform(Settings(database_url=url, insecure_dev=True, audit=False))
    tag = {"tag": [{"system": FACILITY_TAG, "code": FACILITY}]}
    ids = [f"sec-{n:06d}" for n in range(options.patients)]
    try:
        for start in range(0, len(ids), 500):
            with platform.repository.session() as session:
                for pid in ids[start : start + 500]:
                    body = {
                        "resourceType": "Patient",
                        "id": pid,
                        "meta": tag,
                        "name": [{"family": "山田", "given": ["太郎"]}],
                        "birthDate": "1970-04-01",
                    }
                    session.save("Patient", pid, body, method="PUT", previous=None)
                    for k in range(4):
                        oid = f"{pid}-o{k}"
                        observation = {
                            "resourceType": "Observation",
                            "id": oid,
                            "meta": tag,
                            "status": "final",
                            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                            "subject": {"reference": f"Patient/{pid}"},
                            "valueQuantity": {"value": 36.5 + k / 10, "unit": "Cel"},
                        }
                        session.save("Observation", oid, observation, method="PUT", previous=None)
    finally:
        platform.close()
    return ids


def _headers(url: str, base: str) -> dict[str, str]:
    """A physician's token of the benchmark facility, for the server at `base`."""
    platform = _platform(url)
    try:
        grant = Grant(
            subject="bench-physician",
            role=Role.PHYSICIAN,
            client_id="bench",
            facility=FACILITY,
            patient=None,
            scopes=("user/*.rs",),
            lifetime=timedelta(hours=2),
        )
        return {"authorization": f"Bearer {platform.mint_token(grant, base)}"}
    finally:
        platform.close()


def _platform(url: str) -> Platform:
    return build_platform(Settings(database_url=url, insecure_dev=True, audit=False))


def _links(url: str) -> int:
    platform = build_platform(Settings(database_url=url))
    try:
        assert platform.audit_trail is not None
        return platform.audit_trail.verify().head_seq
    finally:
        platform.close()


def _check_chain(url: str) -> None:
    platform = build_platform(Settings(database_url=url))
    try:
        assert platform.audit_trail is not None
        report = platform.audit_trail.verify()
        if not report.ok:
            raise RuntimeError(f"the audit chain does not verify: {report.first_break}")
    finally:
        platform.close()


def _measure(base: str, headers: dict[str, str], paths: list[str], clients: int) -> Run:
    @contextmanager
    def worker() -> Iterator[Any]:
        with httpx.Client(base_url=base + "/", headers=headers, timeout=60.0) as client:

            def call(path: str) -> int:
                response = client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path.split('?')[0]}: HTTP {response.status_code}")
                return 1

            yield call

    return run_concurrent(paths, clients, worker)


@contextmanager
def _server(url: str, backend: str, mode: Mode, workdir: Path) -> Iterator[str]:
    """`tsunagu serve` in the mode, on a free port; yields the FHIR base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "tsunagu", "serve", "--database", url, "--port", str(port)]
    argv += ["--workers", str(WORKERS[backend])]
    if not mode.secure:
        argv.append("--insecure-dev")
    log = (workdir / "server.log").open("ab")
    env = {**os.environ, **mode.env, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    base = f"http://127.0.0.1:{port}/fhir"
    watch({"server": [process.pid]})  # its CPU time (worker processes included) per run
    try:
        _wait_ready(process, base)
        yield base
    finally:
        process.send_signal(signal.SIGINT)  # a clean shutdown flushes the audit writer
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def _wait_ready(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("tsunagu serve exited; see the server log")
            try:
                if client.get(f"{base}/metadata").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise RuntimeError("tsunagu serve did not become ready")


def _render(console: Console, results: dict[str, dict[str, dict[str, Any]]]) -> bool:
    passed = True
    for backend, figures in results.items():
        baseline = figures[MODES[0].name]
        table = Table(title=f"Security overhead, {backend} (HTTP, ratio to the baseline)")
        columns = ("mode", "read/s", "ratio", "CPU ms", "CPU ratio", "search/s", "ratio")
        for column in (*columns, "CPU ms", "CPU ratio", "AuditEvents"):
            table.add_column(column, justify="left" if column == "mode" else "right")
        for mode in MODES:
            f = figures[mode.name]
            row = [mode.name]
            for kind in ("read", "search"):
                ratio = f[f"{kind}_per_second"] / max(baseline[f"{kind}_per_second"], 1e-9)
                cpu_ratio = baseline[f"{kind}_cpu_ms"] / max(f[f"{kind}_cpu_ms"], 1e-9)
                f[f"{kind}_ratio"], f[f"{kind}_cpu_ratio"] = round(ratio, 3), round(cpu_ratio, 3)
                row += [f"{f[f'{kind}_per_second']:,.0f}", f"{ratio:.2f}"]
                row += [f"{f[f'{kind}_cpu_ms']:.2f}", f"{cpu_ratio:.2f}"]
            table.add_row(*row, f"{f['audit_events']:,}")
        console.print(table)
        dev, secure = figures[MODES[1].name], figures[MODES[2].name]
        for kind in ("read", "search"):
            rate = f"{kind}_per_second"
            ratio = secure[rate] / max(dev[rate], 1e-9)
            cpu_ratio = dev[f"{kind}_cpu_ms"] / max(secure[f"{kind}_cpu_ms"], 1e-9)
            secure[f"{kind}_ratio_to_insecure_dev"] = round(ratio, 3)
            secure[f"{kind}_cpu_ratio_to_insecure_dev"] = round(cpu_ratio, 3)
            ok = ratio >= TARGET_RATIO
            passed = passed and ok
            verdict = "[green]PASS[/]" if ok else "[red]MISS[/]"
            console.print(
                f"  {backend}: {verdict} secure {kind} throughput ≥ {TARGET_RATIO:.0%} of "
                f"insecure-dev ({ratio:.2f}; by server CPU per request {cpu_ratio:.2f}); "
                f"of the no-audit baseline {secure[f'{kind}_ratio']:.2f} (CPU "
                f"{secure[f'{kind}_cpu_ratio']:.2f})"
            )
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    console.print(f"measured {stamp}")
    return passed
