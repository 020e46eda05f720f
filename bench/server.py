"""Run `tsunagu serve` in a child process, as an operator would, and wait until it answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from bench.pg import free_port

_READY_TIMEOUT = 90.0


class ServerError(RuntimeError):
    """The API server did not start."""


class TsunaguServer:
    """`tsunagu serve --database URL --port P --workers N --insecure-dev` on a free port
    (with `environment` added to its environment)."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int,
        log_file: Path,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.workers = workers
        self.log_file = log_file
        self.environment = environment or {}  # more TSUNAGU_* settings
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        for _attempt in range(3):
            self.port = free_port()
            argv = [sys.executable, "-m", "tsunagu", "serve", "--database", self.database_url]
            argv += ["--port", str(self.port), "--workers", str(self.workers), "--insecure-dev"]
            with self.log_file.open("ab") as log:
                self._process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own process group, so the worker processes can be stopped with it.
                    start_new_session=True,
                    env={**os.environ, **self.environment, "PYTHONUNBUFFERED": "1"},
                )
            if self._wait_ready():
                return
            self.stop()
        raise ServerError(f"tsunagu serve did not start; see {self.log_file}")

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + _READY_TIMEOUT
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.base_url}/metadata").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> TsunaguServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        if error is not None:
            sys.stderr.write(f"--- last lines of the server log ({self.log_file}) ---\n")
            sys.stderr.write(self.log_tail())

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:]) + "\n"
