"""The `tsunagu` command, run as a user would: demo data, info, load, reindex."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import run_tsunagu


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
