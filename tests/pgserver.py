"""Start and stop a throwaway PostgreSQL server for the test suite.

The server is a private cluster created with ``initdb`` in a temporary
directory, listening on a free TCP port on 127.0.0.1 with ``trust``
authentication for the superuser ``tsunagu``. It is meant for tests only:
durability is switched off (``fsync=off``, ``synchronous_commit=off``,
``full_page_writes=off``, ``initdb --no-sync``) because a crash simply means
throwing the cluster away, and those settings make cluster creation and every
commit much faster. For the same reason the cluster lives in ``/dev/shm``
when that is a roomy tmpfs (disable with ``TSUNAGU_TEST_POSTGRES_TMPFS=0``).

PostgreSQL refuses to run as root. When the tests run as root, ``initdb`` and
``pg_ctl`` are run as the ``postgres`` system user (created by Debian's
packages; a dedicated system user is created if it is missing) through
``runuser``, and the cluster directory is handed over to that user.

If ``TSUNAGU_TEST_POSTGRES_URL`` is set, no server is started: that server is
used instead, and test databases are created and dropped on it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

__all__ = [
    "EXTERNAL_URL_ENV",
    "TMPFS_ENV",
    "PostgresServer",
    "PostgresStartError",
    "create_database",
    "database_url",
    "drop_database",
    "find_postgres_bindir",
    "start_postgres",
]

EXTERNAL_URL_ENV = "TSUNAGU_TEST_POSTGRES_URL"
TMPFS_ENV = "TSUNAGU_TEST_POSTGRES_TMPFS"
SUPERUSER = "tsunagu"
# Used when running as root and the Debian ``postgres`` user does not exist.
FALLBACK_SERVICE_USER = "tsunagu-pg"

# Unix socket paths are limited to about 107 bytes; ".s.PGSQL.NNNNN" is 14.
_MAX_SOCKET_DIR_LEN = 80
_START_ATTEMPTS = 3
_SHARED_PREFIX = "tsunagu-pg-"
_MIN_TMPFS_FREE = 1 << 30
_STALE_AFTER_SECONDS = 600.0
_COMMAND_TIMEOUT = 120.0
_DB_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresStartError(RuntimeError):
    """The throwaway server could not be created or started."""


@dataclass
class PostgresServer:
    """A running PostgreSQL server usable by the tests.

    ``url`` points at the maintenance database ``postgres``; ``admin_url`` is
    the connection used to create and drop databases (a superuser). For a
    server started here both are the same. ``stop()`` is idempotent and does
    nothing for an external server.
    """

    url: str
    admin_url: str
    port: int | None = None
    log_file: Path | None = None
    data_dir: Path | None = None
    bindir: Path | None = None
    _cluster_dir: Path | None = field(default=None, repr=False)
    _extra_dirs: list[Path] = field(default_factory=list, repr=False)
    _run_as: str | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def external(self) -> bool:
        return self._cluster_dir is None

    def stop(self) -> None:
        """Stop the server immediately and delete its files."""
        if self._stopped or self.external:
            self._stopped = True
            return
        self._stopped = True
        assert self.bindir is not None
        assert self.data_dir is not None
        if (self.data_dir / "postmaster.pid").exists():
            pg_ctl = str(self.bindir / "pg_ctl")
            _run(
                [pg_ctl, "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
                run_as=self._run_as,
                cwd=self._cluster_dir,
                check=False,
            )
        for directory in [self._cluster_dir, *self._extra_dirs]:
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)


def find_postgres_bindir() -> Path | None:
    """Return the directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``PATH`` is searched first, then Debian's ``/usr/lib/postgresql/*/bin``
    (newest major version first).
    """
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)

    def major(path: str) -> int:
        version = Path(path).parent.parent.name
        return int(version) if version.isdigit() else -1

    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=major, reverse=True):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def start_postgres(base_dir: Path) -> PostgresServer:
    """Start a throwaway server under ``base_dir`` (or use the external one)."""
    external = os.environ.get(EXTERNAL_URL_ENV)
    if external:
        if urlsplit(external).scheme not in ("postgresql", "postgres"):
            raise ValueError(f"{EXTERNAL_URL_ENV} must be a postgresql:// URL")
        return PostgresServer(url=external, admin_url=external)

    bindir = find_postgres_bindir()
    if bindir is None:
        raise PostgresStartError(
            "PostgreSQL server binaries (initdb) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; run `scripts/setup --postgres` or set "
            f"{EXTERNAL_URL_ENV}"
        )
    run_as = _service_user() if os.geteuid() == 0 else None
    cluster_dir = _make_cluster_dir(Path(base_dir), run_as)
    extra_dirs: list[Path] = []
    server: PostgresServer | None = None
    try:
        data_dir = cluster_dir / "data"
        _initdb(bindir, data_dir, run_as, cluster_dir)

        socket_dir = cluster_dir / "sock"
        if len(str(socket_dir)) > _MAX_SOCKET_DIR_LEN:
            socket_dir = Path(tempfile.mkdtemp(prefix="tsunagu-pgsock-"))
            extra_dirs.append(socket_dir)
        else:
            socket_dir.mkdir()
        if run_as is not None:
            shutil.chown(socket_dir, user=run_as, group=_primary_group(run_as))

        server = PostgresServer(
            url="",
            admin_url="",
            data_dir=data_dir,
            log_file=cluster_dir / "postgres.log",
            bindir=bindir,
            _cluster_dir=cluster_dir,
            _extra_dirs=extra_dirs,
            _run_as=run_as,
        )
        port = _pg_ctl_start(bindir, data_dir, socket_dir, cluster_dir, run_as)
        server.port = port
        server.url = server.admin_url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        return server
    except BaseException:
        if server is not None:
            server.stop()
        else:
            for directory in [cluster_dir, *extra_dirs]:
                shutil.rmtree(directory, ignore_errors=True)
        raise


def create_database(server: PostgresServer, name: str) -> str:
    """Create an empty database called ``name`` and return its URL."""
    _check_db_name(name)
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server, name)


def drop_database(server: PostgresServer, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting any remaining sessions."""
    _check_db_name(name)
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_url(server: PostgresServer, name: str) -> str:
    """The URL of database ``name`` on ``server`` (same user, host and options)."""
    parts = urlsplit(server.url)
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


def _check_db_name(name: str) -> None:
    if not _DB_NAME_RE.fullmatch(name):
        raise ValueError(f"test database names must match {_DB_NAME_RE.pattern}: {name!r}")


def _service_user() -> str:
    """The unprivileged user that runs the server when we are root."""
    for user in ("postgres", FALLBACK_SERVICE_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return user
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    options = ["--system", "--no-create-home", "--home-dir", "/nonexistent"]
    options += ["--shell", "/usr/sbin/nologin"]
    _run([useradd, *options, FALLBACK_SERVICE_USER], run_as=None, cwd=None)
    return FALLBACK_SERVICE_USER


def _primary_group(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def _make_cluster_dir(base_dir: Path, run_as: str | None) -> Path:
    """Create an empty directory for the cluster that the server user owns.

    A RAM-backed ``/dev/shm`` is preferred when it has room (see
    ``_tmpfs_parent``). Otherwise ``base_dir`` is used; when switching users it
    may sit below a directory the service user cannot enter (pytest's
    ``/tmp/pytest-of-root`` is mode 0700), in which case a private directory in
    the system temporary directory is used instead.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    parents: list[tuple[Path, str]] = []
    tmpfs = _tmpfs_parent()
    if tmpfs is not None:
        _remove_stale_clusters(tmpfs)
        parents.append((tmpfs, _SHARED_PREFIX))
    parents.append((base_dir, "pg-"))
    if run_as is not None:
        parents.append((Path(tempfile.gettempdir()), _SHARED_PREFIX))
    for parent, prefix in parents:
        try:
            cluster_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        except OSError:
            continue
        if run_as is None:
            return cluster_dir
        shutil.chown(cluster_dir, user=run_as, group=_primary_group(run_as))
        if _usable_by(cluster_dir, run_as):
            return cluster_dir
        shutil.rmtree(cluster_dir, ignore_errors=True)
    raise PostgresStartError(
        f"user {run_as!r} cannot write to {base_dir} or to {tempfile.gettempdir()}; "
        "point TMPDIR at a directory it can reach"
    )


def _tmpfs_parent() -> Path | None:
    """``/dev/shm`` if it is usable for a cluster, else None.

    On ext4 (as on the CI machines) CREATE DATABASE spends most of its time
    creating files and takes ~300 ms even with fsync off; on tmpfs it takes
    ~30 ms. Small container ``/dev/shm`` mounts (Docker's default is 64 MiB)
    are skipped. Set TSUNAGU_TEST_POSTGRES_TMPFS=0 to keep clusters on disk.
    """
    if os.environ.get(TMPFS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK | os.X_OK):
        return None
    try:
        if shutil.disk_usage(shm).free < _MIN_TMPFS_FREE:
            return None
    except OSError:
        return None
    return shm


def _remove_stale_clusters(parent: Path) -> None:
    """Delete clusters left in RAM by sessions that were killed.

    A cluster is stale when it is old enough not to be mid-initdb and no live
    postmaster owns it.
    """
    now = time.time()
    for cluster_dir in parent.glob(f"{_SHARED_PREFIX}*"):
        try:
            if now - cluster_dir.stat().st_mtime < _STALE_AFTER_SECONDS:
                continue
            pid_file = cluster_dir / "data" / "postmaster.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                if Path(f"/proc/{pid}").exists():
                    continue
        except (OSError, ValueError, IndexError):
            continue
        shutil.rmtree(cluster_dir, ignore_errors=True)


def _usable_by(directory: Path, user: str) -> bool:
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-w", str(directory), "-a", "-x", str(directory)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        check=False,
        timeout=_COMMAND_TIMEOUT,
    )
    return result.returncode == 0


def _initdb(bindir: Path, data_dir: Path, run_as: str | None, cwd: Path) -> None:
    base = [str(bindir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", SUPERUSER]
    base += ["-E", "UTF8", "--no-sync"]
    failure: subprocess.CompletedProcess[str] | None = None
    for locale in ("C.UTF-8", "C"):
        result = _run([*base, f"--locale={locale}"], run_as=run_as, cwd=cwd, check=False)
        if result.returncode == 0:
            return
        failure = result
        shutil.rmtree(data_dir, ignore_errors=True)
    assert failure is not None
    raise PostgresStartError(f"initdb failed:\n{failure.stdout}{failure.stderr}")


def _pg_ctl_start(
    bindir: Path, data_dir: Path, socket_dir: Path, cwd: Path, run_as: str | None
) -> int:
    """Start the server on a free port, retrying if another process took it."""
    log_file = cwd / "postgres.log"
    output = ""
    for _attempt in range(_START_ATTEMPTS):
        port = _free_port()
        options = " ".join(
            [
                f"-p {port}",
                f"-k {shlex.quote(str(socket_dir))}",
                "-c listen_addresses=127.0.0.1",
                # Test-only settings: durability is worthless for a throwaway
                # cluster, and these make commits and CREATE DATABASE fast.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        argv = [str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_file)]
        argv += ["-w", "-t", "60", "-o", options, "start"]
        result = _run(
            argv,
            run_as=run_as,
            cwd=cwd,
            check=False,
        )
        if result.returncode == 0:
            return port
        output = result.stdout + result.stderr + _tail(log_file)
        if "could not bind" not in output and "already in use" not in output:
            break
        time.sleep(0.2)
    raise PostgresStartError(f"pg_ctl start failed:\n{output}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _clean_env() -> dict[str, str]:
    """The environment without libpq/PG* variables that could redirect tools."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _run(
    argv: list[str], *, run_as: str | None, cwd: Path | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if run_as is not None:
        argv = ["runuser", "-u", run_as, "--", *argv]
    result = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=str(cwd) if cwd is not None else "/",
        env=_clean_env(),
        check=False,
        timeout=_COMMAND_TIMEOUT,
    )
    if check and result.returncode != 0:
        raise PostgresStartError(
            f"command failed ({result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return result
