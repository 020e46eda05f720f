"""Group commit for SQLite's single write connection.

With `synchronous=FULL` every COMMIT writes the transaction's pages to the log and waits for
the disk (fsync), and several concurrent writes that each commit on their own pay for that
one after another. Here, write sessions that arrive while one is running join its
transaction: each runs inside a SAVEPOINT of its own (its failure undoes its writes alone),
and the last session of the group (the one that sees no other session waiting, or the
`limit`-th) commits for all. Every session returns only after the commit that holds its
writes succeeded, so nothing is acknowledged before it is durable; if that commit fails,
every session of the group raises. A lone writer commits at once, as before.

PostgreSQL needs none of this: its sessions commit concurrently and share log flushes.
SQLite has no such option, so the grouping is written here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

GROUP_LIMIT = 16  # sessions per commit at most, so a steady stream still commits often


class GroupCommitError(sqlite3.OperationalError):
    """A session's writes were not committed (another session broke the shared transaction,
    or the commit failed)."""


class _Group:
    """Sessions sharing one transaction."""

    def __init__(self) -> None:
        self.sessions = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommit:
    """Write sessions on `conn`, one at a time, committed in groups."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        committed: Callable[[], None],
        limit: int = GROUP_LIMIT,
    ) -> None:
        self._conn = conn
        self._committed = committed  # called after each commit, outside the lock
        self._limit = limit
        self._lock = threading.Lock()  # held by the running session
        self._count_lock = threading.Lock()
        self._waiting = 0  # sessions waiting for `_lock`
        self._group: _Group | None = None
        self.commits = 0  # for tests and measurements

    @property
    def waiting(self) -> int:
        """Sessions waiting to run (they will join the open group)."""
        with self._count_lock:
            return self._waiting

    @contextmanager
    def session(self) -> Iterator[sqlite3.Connection]:
        with self._count_lock:
            self._waiting += 1
        self._lock.acquire()
        with self._count_lock:
            self._waiting -= 1
        group: _Group | None = None
        failure: BaseException | None = None
        committed = False
        try:
            group = self._join()
            self._conn.execute("SAVEPOINT session")
            try:
                yield self._conn
            except BaseException as error:
                failure = error
                self._undo(group)
            else:
                self._conn.execute("RELEASE session")
        except BaseException as error:  # BEGIN or SAVEPOINT failed, or the release
            if group is not None and failure is None:
                group.error = group.error or error
            failure = failure or error
        finally:
            if group is not None:
                committed = self._end_or_continue(group)
            self._lock.release()
        if committed:
            self._committed()
        if failure is not None:
            raise failure
        assert group is not None
        group.done.wait()
        if group.error is not None:
            raise GroupCommitError("the write was not committed") from group.error

    def _join(self) -> _Group:
        """The open group, or a new one with its transaction begun."""
        if self._group is None:
            self._conn.execute("BEGIN IMMEDIATE")
            self._group = _Group()
        self._group.sessions += 1
        return self._group

    def _undo(self, group: _Group) -> None:
        """Undo the failed session's writes; if SQLite rolled back the whole transaction
        (it may, on I/O errors and the like), the group's other writes are gone too."""
        try:
            self._conn.execute("ROLLBACK TO session")
            self._conn.execute("RELEASE session")
        except sqlite3.Error as error:
            group.error = group.error or error
        if not self._conn.in_transaction:
            group.error = group.error or GroupCommitError("the shared transaction was lost")

    def _end_or_continue(self, group: _Group) -> bool:
        """Commit the group unless another session is waiting to join it (and the group has
        room); True if this committed."""
        with self._count_lock:
            others = self._waiting
        if group.error is None and others and group.sessions < self._limit:
            return False
        self._group = None
        try:
            if group.error is None:
                self._conn.execute("COMMIT")
                self.commits += 1
        except BaseException as error:
            group.error = error
        finally:
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            group.done.set()
        return group.error is None
