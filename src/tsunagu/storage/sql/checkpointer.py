"""SQLite WAL checkpoints from a background thread, off the writers' path.

By default SQLite copies the write-ahead log back into the database file inside the COMMIT
that takes the log past 1,000 pages. Search index rows land on scattered B-tree pages, so a
100-resource transaction dirties thousands of pages: every such commit then also rewrites all
of them into the database file and syncs it, while it holds the single write lock. Here the
writer connection has automatic checkpoints turned off and this thread runs a PASSIVE
checkpoint (never blocks writers or readers) at most every `interval` seconds after commits.
Pages written by several commits in between are copied once, and the writer returns as soon as
its log frames are synced (`synchronous=FULL` still makes each commit durable).

A writer starts the log again from its beginning once everything in it was copied and no
reader still needs it. If the log holds more than `limit` frames after a passive checkpoint
(readers kept old snapshots, or writes outran the thread), the next checkpoint is a TRUNCATE
one, which waits for them and resets the log: it cannot grow without bound.

SQLite has no background checkpointer of its own (`wal_autocheckpoint` runs in the committing
connection), and Python's `sqlite3` exposes no WAL hook, hence this small thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.5
DEFAULT_LIMIT_FRAMES = 65_536  # 256 MB of 4 KB pages


class WalCheckpointer:
    """A daemon thread that checkpoints a WAL database after commits (`committed()`)."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        interval: float = DEFAULT_INTERVAL_S,
        limit: int = DEFAULT_LIMIT_FRAMES,
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._limit = limit
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.checkpoints = 0  # completed checkpoint calls, for tests and diagnostics

    def committed(self) -> None:
        """A commit added frames to the log: checkpoint them soon."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="sqlite-checkpointer", daemon=True
                    )
                    self._thread.start()
        self._pending.set()

    def close(self) -> None:
        """Stop the thread; the database's last connection to close checkpoints the rest."""
        with self._start_lock:
            self._stopping.set()
            self._pending.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = self._connect()
        mode = "PASSIVE"
        try:
            while True:
                self._pending.wait()
                if self._stopping.is_set():
                    return
                self._pending.clear()
                mode = self._checkpoint(conn, mode)
                # Let commits accumulate, so pages they share are copied once.
                if self._stopping.wait(self._interval):
                    return
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection, mode: str) -> str:
        """One checkpoint; returns the mode of the next one."""
        try:
            row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.OperationalError as error:  # busy or locked: try again after commits
            log.debug("checkpoint skipped: %s", error.sqlite_errorname)
            return mode
        self.checkpoints += 1
        frames = row[1]
        if mode == "PASSIVE" and frames > self._limit:
            self._pending.set()  # do not wait for another commit to bound the log
            return "TRUNCATE"
        return "PASSIVE"
