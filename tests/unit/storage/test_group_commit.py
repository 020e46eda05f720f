"""Group commit on SQLite: concurrent write sessions share a COMMIT, each is atomic on its own,
and none returns before its writes are durable."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagu.storage.sql.group_commit import GroupCommit, GroupCommitError


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "g.db"
    conn = _connect(path)
    conn.execute("CREATE TABLE owner (id TEXT PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE item (id TEXT PRIMARY KEY,"
        " owner TEXT REFERENCES owner (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    conn.close()
    return path


@pytest.fixture
def groups(path: Path) -> Iterator[GroupCommit]:
    conn = _connect(path)
    yield GroupCommit(conn, lambda: None)
    conn.close()


def _stored(path: Path) -> set[str]:
    """Item ids that another connection sees (committed ones)."""
    conn = _connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM item")}
    finally:
        conn.close()


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_lone_session_commits_at_once(groups: GroupCommit, path: Path) -> None:
    with groups.session() as conn:
        conn.execute("INSERT INTO item (id) VALUES ('a')")
        assert _stored(path) == set()
    assert _stored(path) == {"a"}
    assert groups.commits == 1


def test_a_session_that_joins_returns_only_after_the_shared_commit(
    groups: GroupCommit, path: Path
) -> None:
    """The first session sees a second one waiting and leaves the commit to it; when the
    first returns, its row is already visible to other connections."""
    seen_after_return: list[set[str]] = []

    def second() -> None:
        with groups.session() as conn:
            conn.execute("INSERT INTO item (id) VALUES ('b')")

    thread: threading.Thread | None = None
    with groups.session() as conn:
        conn.execute("INSERT INTO item (id) VALUES ('a')")
        thread, errors = _in_thread(second)
        _until(lambda: groups.waiting == 1)
    seen_after_return.append(_stored(path))
    thread.join()
    assert errors == []
    assert seen_after_return == [{"a", "b"}]
    assert groups.commits == 1


def test_many_concurrent_sessions_share_commits(groups: GroupCommit, path: Path) -> None:
    count = 24
    start = threading.Barrier(count)

    def write(number: int) -> Callable[[], None]:
        def work() -> None:
            start.wait()
            with groups.session() as conn:
                conn.execute("INSERT INTO item (id) VALUES (?)", (f"i{number}",))
                time.sleep(0.002)
            assert f"i{number}" in _stored(path)  # durable before the session returned

        return work

    started = [_in_thread(write(n)) for n in range(count)]
    for thread, _errors in started:
        thread.join()
    assert [e for _t, errors in started for e in errors] == []
    assert _stored(path) == {f"i{n}" for n in range(count)}
    assert 1 <= groups.commits < count


def test_a_failed_session_is_undone_alone(groups: GroupCommit, path: Path) -> None:
    def failing() -> None:
        with groups.session() as conn:
            conn.execute("INSERT INTO item (id) VALUES ('bad')")
            raise ValueError("refused")

    def last() -> None:
        with groups.session() as conn:
            conn.execute("INSERT INTO item (id) VALUES ('c')")

    with groups.session() as conn:
        conn.execute("INSERT INTO item (id) VALUES ('a')")
        bad, bad_errors = _in_thread(failing)
        _until(lambda: groups.waiting == 1)
    bad.join()
    assert [type(e) for e in bad_errors] == [ValueError]
    thread, errors = _in_thread(last)
    thread.join()
    assert errors == []
    assert _stored(path) == {"a", "c"}


def test_a_failed_commit_fails_every_session_of_the_group(groups: GroupCommit, path: Path) -> None:
    """A deferred foreign key is checked at COMMIT: the group's commit fails, and neither the
    valid write nor the invalid one is acknowledged or kept."""

    def orphan() -> None:
        with groups.session() as conn:
            conn.execute("INSERT INTO item (id, owner) VALUES ('orphan', 'nobody')")

    started: list[tuple[threading.Thread, list[BaseException]]] = []

    def first() -> None:
        with groups.session() as conn:
            conn.execute("INSERT INTO item (id) VALUES ('a')")
            started.append(_in_thread(orphan))
            _until(lambda: groups.waiting == 1)

    with pytest.raises(GroupCommitError):
        first()
    thread, errors = started[0]
    thread.join()
    assert [type(e) for e in errors] == [GroupCommitError]
    assert _stored(path) == set()
    with groups.session() as conn:  # the connection takes new writes
        conn.execute("INSERT INTO item (id) VALUES ('after')")
    assert _stored(path) == {"after"}


def test_a_group_commits_after_its_limit(path: Path) -> None:
    conn = _connect(path)
    groups = GroupCommit(conn, lambda: None, limit=2)
    try:
        threads: list[tuple[threading.Thread, list[BaseException]]] = []

        def write(name: str) -> Callable[[], None]:
            def work() -> None:
                with groups.session() as c:
                    c.execute("INSERT INTO item (id) VALUES (?)", (name,))

            return work

        with groups.session() as c:
            c.execute("INSERT INTO item (id) VALUES ('first')")
            for name in ("second", "third"):
                threads.append(_in_thread(write(name)))
            _until(lambda: groups.waiting == 2)
        for thread, errors in threads:
            thread.join()
            assert errors == []
        assert _stored(path) == {"first", "second", "third"}
        assert groups.commits == 2  # first + one more in the first group, then the last
    finally:
        conn.close()


@settings(max_examples=25, deadline=None)
@given(
    plans=st.lists(
        st.tuples(st.integers(min_value=0, max_value=3), st.booleans(), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_concurrent_sessions_keep_exactly_the_writes_that_returned(
    tmp_path_factory: pytest.TempPathFactory,
    plans: list[tuple[int, bool, bool]],
) -> None:
    """Sessions of 0-3 rows each, some failing, some pausing, all at once: every session that
    returned has its rows stored, every one that raised has none, and no more commits ran
    than sessions."""
    path = tmp_path_factory.mktemp("g") / "g.db"
    conn = _connect(path)
    conn.execute("CREATE TABLE item (id TEXT PRIMARY KEY, owner TEXT)")
    groups = GroupCommit(conn, lambda: None)
    start = threading.Barrier(len(plans))

    def work(number: int, rows: int, fail: bool, pause: bool) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            with groups.session() as c:
                for row in range(rows):
                    c.execute("INSERT INTO item (id) VALUES (?)", (f"s{number}-{row}",))
                if pause:
                    time.sleep(0.001)
                if fail:
                    raise ValueError(number)

        return run

    started = [_in_thread(work(n, *plan)) for n, plan in enumerate(plans)]
    for thread, _errors in started:
        thread.join()
    conn.close()
    expected = set()
    for number, ((rows, fail, _pause), (_thread, errors)) in enumerate(
        zip(plans, started, strict=True)
    ):
        if fail:
            assert [str(e) for e in errors] == [str(number)]
        else:
            assert errors == []
            expected |= {f"s{number}-{row}" for row in range(rows)}
    assert _stored(path) == expected
    assert groups.commits <= len(plans)
