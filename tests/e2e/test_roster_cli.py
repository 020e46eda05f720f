"""`tsunagu roster import FILE`, run as an operator would (subprocess, SQLite file)."""

from __future__ import annotations

from pathlib import Path

from tests.api.roster_data import INSURER, ROWS, roster_csv
from tests.e2e.cli import run_tsunagu
from tsunagu.bootstrap import build_platform
from tsunagu.settings import Settings


def _counts(database: str) -> tuple[int, int]:
    platform = build_platform(Settings(database_url=database, insecure_dev=True))
    try:
        return platform.repository.count("Patient"), platform.repository.count("Coverage")
    finally:
        platform.close()


def test_import_shift_jis_then_again(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/roster.db"
    file = tmp_path / "roster.csv"
    file.write_bytes(roster_csv().encode("cp932"))
    first = run_tsunagu("roster", "import", str(file), "--database", database, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "imported 4 rows (4 new, 0 updated)" in first.stderr
    again = run_tsunagu(
        "roster", "import", str(file), "--encoding", "cp932", "--database", database, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert "(0 new, 4 updated)" in again.stderr
    assert _counts(database) == (4, 4)


def test_errors_exit_non_zero_and_import_nothing(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/roster.db"
    file = tmp_path / "roster.csv"
    broken = [ROWS[0], ROWS[1].replace("1982-03-02", "1982/03/02"), ROWS[2].replace(INSURER, "1")]
    file.write_text(roster_csv(broken), encoding="utf-8")
    result = run_tsunagu("roster", "import", str(file), "--database", database, cwd=tmp_path)
    assert result.returncode == 1
    assert "3 行目 birth_date" in result.stderr
    assert "4 行目 insurer_number" in result.stderr
    assert "2 errors: nothing imported" in result.stderr
    assert "山田" not in result.stderr
    assert _counts(database) == (0, 0)
    wrong_encoding = run_tsunagu(
        "roster", "import", str(file), "--encoding", "latin-1", "--database", database, cwd=tmp_path
    )
    assert wrong_encoding.returncode == 2
    missing = run_tsunagu("roster", "import", str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert missing.returncode == 2
