"""SQLite's write-ahead log is copied into the database file by the background checkpointer.

Commits do not checkpoint (they only append to the log), the thread does, and the log stays
bounded even when a reader keeps an old snapshot. Whether a row has reached the database file
is seen by copying the file alone, without its log, and opening the copy.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from tsunagu.storage.sql.checkpointer import WalCheckpointer
from tsunagu.storage.sql.dialect import insert_rows
from tsunagu.storage.sql.sqlite import SqliteDialect

ROWS = 3_000  # about 1,500 pages of 2 kB values: past SQLite's 1,000-page autocheckpoint
WAIT_S = 10.0


def _write_rows(dialect: SqliteDialect, start: int) -> None:
    with dialect.writer() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, v TEXT)")
        insert_rows(
            dialect, conn, "t", ("n", "v"), [(n, "x" * 2_000) for n in range(start, start + ROWS)]
        )


def _rows_in_file_alone(path: Path, tmp_path: Path) -> int:
    """How many rows of `t` the database file holds without its log."""
    copy = tmp_path / f"copy-{time.monotonic_ns()}.db"
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0]) if tables[0] else 0
    finally:
        conn.close()


def _rows_when_whole(path: Path, tmp_path: Path) -> int | None:
    """`_rows_in_file_alone`, or None when the copy caught the checkpointer in the middle of
    writing pages (the file alone is consistent only between checkpoints)."""
    try:
        return _rows_in_file_alone(path, tmp_path)
    except sqlite3.DatabaseError:
        return None


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_commits_leave_the_copy_to_the_background_thread(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    dialect = SqliteDialect(path)
    dialect._checkpointer.close()  # no background thread: only the commit could checkpoint
    _write_rows(dialect, 0)
    assert _rows_in_file_alone(path, tmp_path) == 0, "the commit checkpointed the log"
    dialect.close()  # the last connection to close copies the log
    assert _rows_in_file_alone(path, tmp_path) == ROWS


def test_the_background_thread_copies_committed_pages(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    dialect = SqliteDialect(path)
    try:
        _write_rows(dialect, 0)
        _write_rows(dialect, ROWS)
        _wait_for(lambda: _rows_when_whole(path, tmp_path) == 2 * ROWS, "the checkpoint")
        assert dialect._checkpointer.checkpoints >= 1
    finally:
        dialect.close()


def test_a_log_past_the_limit_is_truncated_once_readers_let_go(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    dialect = SqliteDialect(path)
    dialect._checkpointer.close()
    checkpointer = WalCheckpointer(dialect._connect, interval=0.01, limit=100)
    reader = dialect._connect()
    try:
        _write_rows(dialect, 0)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == ROWS  # holds a snapshot
        _write_rows(dialect, ROWS)  # frames the passive checkpoint may not copy
        checkpointer.committed()
        _wait_for(lambda: checkpointer.checkpoints >= 1, "a passive checkpoint")
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 0
        reader.execute("COMMIT")  # the TRUNCATE checkpoint was waiting for this reader
        _wait_for(lambda: wal.stat().st_size == 0, "the log to be truncated")
        assert _rows_in_file_alone(path, tmp_path) == 2 * ROWS
    finally:
        reader.close()
        checkpointer.close()
        dialect.close()
