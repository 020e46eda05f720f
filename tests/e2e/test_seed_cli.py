"""`tsunagu seed` and `tsunagu link-patients`, run as a user would."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli import run_tsunagu
from tsunagu.bootstrap import build_platform
from tsunagu.settings import Settings


def test_seed_then_link_duplicates(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/seed.db"
    seeded = run_tsunagu(
        "seed", "--patients", "300", "--seed", "5", "--duplicates", "0.2",
        "--database", database, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 300 patients" in " ".join(seeded.stderr.split())
    assert "Traceback" not in seeded.stderr

    again = run_tsunagu(
        "seed", "--patients", "10", "--seed", "5", "--database", database, cwd=tmp_path, timeout=600
    )
    assert again.returncode == 1
    assert "--seed 5" in again.stderr

    other = run_tsunagu(
        "seed", "--patients", "20", "--seed", "6", "--no-clinical", "--workers", "2",
        "--database", database, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr

    linked = run_tsunagu("link-patients", "--database", database, cwd=tmp_path, timeout=600)
    assert linked.returncode == 0, linked.stderr
    assert "linked pairs" in " ".join(linked.stderr.split())

    platform = build_platform(Settings(database_url=database, insecure_dev=True))
    try:
        repo = platform.repository
        assert repo.count("Patient") >= 320 + 40  # 300 + 20 and about 20 % duplicates
        assert repo.count("Condition") > 0
        assert repo.count("Coverage") >= 320
        duplicates = [f"syn5-{i:07d}" for i in range(300)]
        pairs = [
            (pid, f"{pid}-d") for pid in duplicates if repo.read("Patient", f"{pid}-d") is not None
        ]
        assert len(pairs) >= 30
        found = 0
        for original, duplicate in pairs:
            a = repo.read("Patient", original)
            b = repo.read("Patient", duplicate)
            assert a is not None
            assert a.content is not None
            assert b is not None
            assert b.content is not None
            a_links = {link["other"]["reference"] for link in a.content.get("link", [])}
            b_links = {link["other"]["reference"] for link in b.content.get("link", [])}
            if f"Patient/{duplicate}" in a_links:
                assert f"Patient/{original}" in b_links  # both ways
                assert all(link["type"] == "seealso" for link in a.content["link"])
                found += 1
        assert found >= 0.85 * len(pairs)
    finally:
        platform.close()

    rerun = run_tsunagu("link-patients", "--database", database, cwd=tmp_path, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    # Idempotent: never merges, never repeats.
    # Idempotent: never merges, never repeats.
    assert "0 patients updated" in " ".join(rerun.stderr.split())
