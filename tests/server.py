"""Run `tsunagu serve` as a real subprocess for tests that need real HTTP and processes.

`start_server` launches the CLI on a free port of 127.0.0.1 in a new session (so the uvicorn
supervisor and its worker processes share one process group), waits until
`GET /fhir/metadata` answers 200, and returns a `RunningServer`. `RunningServer.stop()` ends
the whole group gracefully (SIGTERM, then SIGKILL after a grace period);
`RunningServer.kill()` ends it at once with SIGKILL, as a crash would. `running_server` is
the context-manager form that always stops the server.

The server's stdout and stderr go to a log file, whose tail is attached to start-up errors.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "RunningServer",
    "ServerStartError",
    "free_port",
    "running_server",
    "start_server",
]

_START_ATTEMPTS = 3
_POLL_INTERVAL = 0.1
_LOG_TAIL = 4000


class ServerStartError(RuntimeError):
    """The server process exited or did not answer in time."""


@dataclass
class RunningServer:
    """A `tsunagu serve` process group listening on `port`."""

    process: subprocess.Popen[bytes]
    port: int
    database_url: str
    log_file: Path

    @property
    def base_url(self) -> str:
        """The FHIR base, e.g. http://127.0.0.1:8123/fhir."""
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """A client whose relative URLs are resolved against the FHIR base."""
        return httpx.Client(base_url=self.base_url + "/", timeout=timeout)

    def log_tail(self, limit: int = _LOG_TAIL) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash), and reap the supervisor."""
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group, and SIGKILL it if it is still there after `grace` s.

        Idempotent. Worker processes are signalled too, even if the supervisor already exited.
        """
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        # Whatever is left of the group (workers whose supervisor died, or a hung supervisor).
        _signal_group(self.process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    database_url: str,
    log_file: Path,
    *,
    workers: int = 1,
    timeout: float = 90.0,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> RunningServer:
    """Start `tsunagu serve --insecure-dev` and wait until it answers.

    Retries on another free port if the chosen one was taken in the meantime. The log file is
    appended to, so restarts on the same database can share one log.
    """
    failure = ""
    for _attempt in range(_START_ATTEMPTS):
        port = free_port()
        server = _launch(database_url, log_file, port, workers, extra_args, env)
        try:
            _wait_until_ready(server, timeout)
            return server
        except ServerStartError as error:
            server.stop(grace=5.0)
            failure = str(error)
            if "address already in use" not in failure.lower():
                break
    raise ServerStartError(failure)


@contextlib.contextmanager
def running_server(
    database_url: str,
    log_file: Path,
    *,
    workers: int = 1,
    timeout: float = 90.0,
) -> Iterator[RunningServer]:
    """`start_server` as a context manager that always stops the server."""
    server = start_server(database_url, log_file, workers=workers, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


def _launch(
    database_url: str,
    log_file: Path,
    port: int,
    workers: int,
    extra_args: tuple[str, ...],
    env: dict[str, str] | None,
) -> RunningServer:
    argv = [sys.executable, "-m", "tsunagu", "serve", "--database", database_url]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    argv += ["--insecure-dev", *extra_args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    environment["PYTHONUNBUFFERED"] = "1"
    environment.update(env or {})
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(f"\n=== {' '.join(argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,  # its own process group, so workers are killed with it
        )
    return RunningServer(process, port, database_url, log_file)


def _wait_until_ready(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = server.process.poll()
            if code is not None:
                raise ServerStartError(
                    f"tsunagu serve exited with {code} before answering:\n{server.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{server.base_url}/metadata").status_code == 200:
                    return
            time.sleep(_POLL_INTERVAL)
    raise ServerStartError(
        f"tsunagu serve did not answer GET /fhir/metadata within {timeout:.0f}s:\n"
        f"{server.log_tail()}"
    )


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    # The group id is the supervisor's pid (start_new_session); it outlives the supervisor
    # while any worker is alive, so this reaches orphaned workers too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
