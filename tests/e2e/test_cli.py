"""The `tsunagu` command, run as a user would: demo data, info, load, reindex."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.cli import run_tsunagu
from tsunagu.cli.common import open_platform
from tsunagu.cli.main import rebuild_owed


def test_demo_data_info_load_and_reindex(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/cli.db"
    first = run_tsunagu("demo-data", "--database", database, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_tsunagu("demo-data", "--database", database, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    info = run_tsunagu("info", "--database", database, cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    count_line = next(line for line in info.stderr.splitlines() if line.startswith("resources:"))
    assert count_line == "resources: 15"  # loading twice created nothing new

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"resourceType": "Patient", "id": "cli-1", "gender": "male"}))
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "Patient", "id": ')
    loaded = run_tsunagu("load", str(good), str(bad), "--database", database, cwd=tmp_path)
    assert loaded.returncode == 1
    assert "loaded 1 of 2 files" in loaded.stderr
    assert "bad.json" in loaded.stderr

    reindexed = run_tsunagu("reindex", "--database", database, cwd=tmp_path)
    assert reindexed.returncode == 0, reindexed.stderr
    assert "reindexed 16 resources" in reindexed.stderr
    assert "Traceback" not in reindexed.stderr
    patients = run_tsunagu("reindex", "--type", "Patient", "--database", database, cwd=tmp_path)
    assert patients.returncode == 0, patients.stderr
    assert "reindexed 16 resources" not in patients.stderr
    assert "reindexed " in patients.stderr
    dates = run_tsunagu("reindex", "--param-type", "date", "--database", database, cwd=tmp_path)
    assert dates.returncode == 0, dates.stderr
    assert "reindexed 16 resources" in dates.stderr
    no_type = run_tsunagu("reindex", "--param-type", "dat", "--database", database, cwd=tmp_path)
    assert no_type.returncode == 2
    assert "no search parameter of type 'dat'" in no_type.stderr
    unknown = run_tsunagu("reindex", "--type", "Patiant", "--database", database, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "Patiant" in unknown.stderr
    pruned = run_tsunagu("reindex", "--prune", "--database", database, cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert "pruned 0 index rows" in pruned.stderr  # a current database has none to prune
    mixed = run_tsunagu(
        "reindex", "--prune", "--type", "Patient", "--database", database, cwd=tmp_path
    )
    assert mixed.returncode == 2
    assert "--prune" in mixed.stderr


def test_unknown_database_scheme_fails_clearly(tmp_path: Path) -> None:
    result = run_tsunagu("info", "--database", "mysql://x", cwd=tmp_path)
    assert result.returncode == 2
    assert "unsupported database URL scheme" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_postgresql_fails_at_once_with_its_reason(tmp_path: Path) -> None:
    # Port 1 refuses: the reason comes back on the first attempt, not after the pool's 30 s of
    # retries (the subprocess would time out first).
    url = "postgresql://tsunagu@127.0.0.1:1/tsunagu"
    result = run_tsunagu("info", "--database", url, cwd=tmp_path, timeout=25)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "the database operation failed: connection failed" in message
    assert "Traceback" not in result.stderr
    assert "WARNING" not in result.stderr  # no pool retries logged


def test_a_database_that_fails_ends_with_one_line_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-file"
    folder.mkdir()  # SQLite cannot open a folder as its database
    result = run_tsunagu("info", "--database", f"sqlite:///{folder}", cwd=tmp_path)
    assert result.returncode == 1
    assert "the database operation failed: unable to open database file" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr


def _stale_demo_database(tmp_path: Path) -> tuple[str, Path]:
    """The demo data in a database as an upgrade across migration 12 leaves it: a birthdate
    indexed as the UTC day, and the rebuild of the date rows owed."""
    path = tmp_path / "stale.db"
    database = f"sqlite:///{path}"
    assert run_tsunagu("demo-data", "--database", database, cwd=tmp_path).returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE search_date SET low = '1958-04-12T00:00:00.000000+00:00',"
            " high = '1958-04-13T00:00:00.000000+00:00' WHERE param = 'birthdate'"
            " AND low LIKE '1958-04-11T15:00%'"
        )
        conn.execute("INSERT INTO index_rebuilds (param_type, reason) VALUES ('date', 'test')")
    return database, path


def _birthdate_lows(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT low FROM search_date WHERE param = 'birthdate'").fetchall()
    return sorted(str(row[0]) for row in rows if str(row[0]).startswith("1958-04-1"))


def test_serve_rebuilds_the_index_rows_an_upgrade_changed_before_it_answers(
    tmp_path: Path,
) -> None:
    database, path = _stale_demo_database(tmp_path)
    assert _birthdate_lows(path) == ["1958-04-12T00:00:00.000000+00:00"]
    argv = [sys.executable, "-m", "tsunagu", "serve", "--database", database, "--port", "0"]
    seen: list[str] = []
    with subprocess.Popen(
        [*argv, "--insecure-dev"], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stderr is not None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                line = server.stderr.readline()
                seen.append(line.strip())
                if not line or "Uvicorn running" in line:
                    break
        finally:
            server.terminate()
            server.wait(timeout=30)
    said = " ".join(seen)
    assert "rebuilt the date index rows of 15 resources" in said, said
    assert _birthdate_lows(path) == ["1958-04-11T15:00:00.000000+00:00"]  # the day in Japan
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM index_rebuilds").fetchone()[0] == 0


def test_a_large_database_is_told_how_to_rebuild(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database, path = _stale_demo_database(tmp_path)
    platform = open_platform(database)
    try:
        rebuild_owed(platform, limit=10)
    finally:
        platform.close()
    said = " ".join(capsys.readouterr().err.split())
    assert "run `tsunagu reindex --param-type date`" in said
    assert _birthdate_lows(path) == ["1958-04-12T00:00:00.000000+00:00"]  # left for the operator
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT param_type FROM index_rebuilds").fetchall() == [("date",)]
