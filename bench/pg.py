"""A throwaway PostgreSQL server with durable settings, for benchmarking.

`tests.pgserver.start_postgres` is tuned for tests: it turns durability off (fsync,
synchronous_commit and full_page_writes off, `initdb --no-sync`) and prefers a RAM-backed
/dev/shm, and those options are passed with `-c` on the command line, which overrides anything
set later with ALTER SYSTEM. A benchmark must pay what production pays for a commit, so this
module creates its own cluster on disk with fsync, synchronous_commit and full_page_writes on.
It reuses the test helper only to locate the server binaries. As there, a root user runs the
server tools as the unprivileged `postgres` user through `runuser`.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tests.pgserver import find_postgres_bindir

SUPERUSER = "bench"
DATABASE = "tsunagu_bench"


def _memory_mib() -> int:
    """The machine's memory in MiB (1 GiB when it cannot be read)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1024
    return max(1024, pages * size // (1 << 20))


# Durable commits (the PostgreSQL defaults, stated explicitly) plus the usual sizing of a
# dedicated database server on SSDs (docs/postgresql.md): a quarter of memory for PostgreSQL's
# buffers, the rest counted on as the operating system's cache, random reads about as cheap
# as sequential ones.
SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": f"{max(128, _memory_mib() // 4)}MB",
    "effective_cache_size": f"{max(512, _memory_mib() * 3 // 4)}MB",
    "random_page_cost": "1.1",
    "max_wal_size": "4GB",
    "max_connections": "100",
}
_TIMEOUT = 180.0


class BenchPostgresError(RuntimeError):
    """The benchmark's PostgreSQL server could not be created or started."""


@dataclass
class BenchPostgres:
    """A running server; `url` points at the empty benchmark database."""

    url: str
    port: int
    bindir: Path
    cluster_dir: Path
    run_as: str | None

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "postgres.log"

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def settings(self) -> dict[str, str]:
        """The durability-relevant settings the server actually runs with."""
        names = [*SETTINGS, "wal_sync_method", "server_version"]
        values: dict[str, str] = {}
        with psycopg.connect(self.url, autocommit=True) as conn:
            for name in names:
                row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                values[name] = "" if row is None else str(row[0])
        return values

    def recreate_database(self) -> None:
        """Drop the benchmark database and create it again, empty."""
        admin = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            name = sql.Identifier(DATABASE)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))

    def stop(self, remove: bool = True) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            _run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                self.run_as,
                self.cluster_dir,
                check=False,
            )
        if remove:
            shutil.rmtree(self.cluster_dir, ignore_errors=True)


def start_durable_postgres(
    parent: Path | None = None, keep_at: Path | None = None
) -> BenchPostgres:
    """initdb a new cluster in a disk-backed temporary directory and start it. With `keep_at`
    the cluster lives there instead, and one that is already there is started as it is."""
    bindir = find_postgres_bindir()
    if bindir is None:
        raise BenchPostgresError(
            "PostgreSQL server binaries not found (run `scripts/setup --postgres`)"
        )
    run_as = _service_user() if os.geteuid() == 0 else None
    # The system temporary directory (not a 0700 directory of ours), so `postgres` can enter.
    if keep_at is not None and (keep_at / "data" / "PG_VERSION").exists():
        return _restart(bindir, keep_at, run_as)
    if keep_at is not None:
        keep_at.mkdir(parents=True)
        cluster_dir = keep_at
    else:
        cluster_dir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-pg-", dir=parent))
    try:
        if run_as is not None:
            account = pwd.getpwnam(run_as)
            os.chown(cluster_dir, account.pw_uid, account.pw_gid)
        socket_dir = cluster_dir / "sock"
        socket_dir.mkdir()
        if run_as is not None:
            os.chown(socket_dir, account.pw_uid, account.pw_gid)
        data_dir = cluster_dir / "data"
        _initdb(bindir, data_dir, run_as, cluster_dir)
        port = _start(bindir, data_dir, socket_dir, cluster_dir, run_as)
        admin = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
        return BenchPostgres(url, port, bindir, cluster_dir, run_as)
    except BaseException:
        if (cluster_dir / "data" / "postmaster.pid").exists():
            pg_ctl = [str(bindir / "pg_ctl"), "-D", str(cluster_dir / "data"), "-m", "immediate"]
            _run([*pg_ctl, "-w", "stop"], run_as, cluster_dir, check=False)
        shutil.rmtree(cluster_dir, ignore_errors=True)
        raise


def _restart(bindir: Path, cluster_dir: Path, run_as: str | None) -> BenchPostgres:
    """Start a kept cluster again (its database exists already). A server still running there
    (its benchmark was killed) is stopped first: its port is unknown."""
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(cluster_dir / "data")]
    if _run([*pg_ctl, "status"], run_as, cluster_dir, check=False).returncode == 0:
        _run([*pg_ctl, "-m", "fast", "-w", "stop"], run_as, cluster_dir)
    port = _start(bindir, cluster_dir / "data", cluster_dir / "sock", cluster_dir, run_as)
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    return BenchPostgres(url, port, bindir, cluster_dir, run_as)


def _service_user() -> str:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise BenchPostgresError(
            "running as root needs a `postgres` system user to run the server as"
        ) from None
    return "postgres"


def _initdb(bindir: Path, data_dir: Path, run_as: str | None, cwd: Path) -> None:
    argv = [
        str(bindir / "initdb"),
        "-D",
        str(data_dir),
        "-A",
        "trust",
        "-U",
        SUPERUSER,
        "-E",
        "UTF8",
    ]
    output = ""
    for locale in ("C.UTF-8", "C"):
        result = _run([*argv, f"--locale={locale}"], run_as, cwd, check=False)
        if result.returncode == 0:
            return
        output = result.stdout + result.stderr
        shutil.rmtree(data_dir, ignore_errors=True)
    raise BenchPostgresError(f"initdb failed:\n{output}")


def _start(bindir: Path, data_dir: Path, socket_dir: Path, cwd: Path, run_as: str | None) -> int:
    output = ""
    for _attempt in range(3):
        port = free_port()
        options = [f"-p {port}", f"-k {shlex.quote(str(socket_dir))}"]
        options.append("-c listen_addresses=127.0.0.1")
        options += [f"-c {name}={value}" for name, value in SETTINGS.items()]
        argv = [str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(cwd / "postgres.log")]
        argv += ["-w", "-t", "120", "-o", " ".join(options), "start"]
        result = _run(argv, run_as, cwd, check=False)
        if result.returncode == 0:
            return port
        output = result.stdout + result.stderr
        log = cwd / "postgres.log"
        if log.exists():
            output += log.read_text(errors="replace")[-4000:]
        if "could not bind" not in output and "already in use" not in output:
            break
    raise BenchPostgresError(f"pg_ctl start failed:\n{output}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(
    argv: list[str], run_as: str | None, cwd: Path, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if run_as is not None:
        argv = ["runuser", "-u", run_as, "--", *argv]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        check=False,
        timeout=_TIMEOUT,
    )
    if check and result.returncode != 0:
        raise BenchPostgresError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result
