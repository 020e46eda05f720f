"""`tsunagu validate`, run as a vendor would: offline, files and folders, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.e2e.cli import run_tsunagu
from tests.unit.validation.test_mutations import CONDITION_ECS, clins_condition, clins_patient
from tsunagu.cli.main import app

ENV = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
JP_PATIENT = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"


def _write(path: Path, content: object) -> Path:
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


def test_files_and_folders_with_a_summary_and_exit_code(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    _write(folder / "condition.json", clins_condition())
    broken = clins_condition()
    del broken["code"]["text"]
    _write(folder / "broken-condition.json", broken)
    good = _write(tmp_path / "patient.json", clins_patient())
    done = run_tsunagu("validate", str(folder), str(good), cwd=tmp_path, env=ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "検証結果 / validation results" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert set(rows) >= {
        str(folder / "condition.json"),
        str(folder / "broken-condition.json"),
        str(good),
    }
    assert rows[str(folder / "broken-condition.json")].split("│")[3].strip() == "1"
    assert rows[str(folder / "condition.json")].split("│")[3].strip() == "0"
    assert "Condition.code.text" in out  # the issue, with its expression
    assert "1 of 3 files with errors" in out


def test_all_valid_is_exit_0(tmp_path: Path) -> None:
    _write(tmp_path / "condition.json", clins_condition())
    done = run_tsunagu("validate", str(tmp_path), cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.stdout
    assert "0 of 1 files with errors" in done.stdout


def test_unreadable_input_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "truncated.json").write_text('{"resourceType": "Patient", ')
    _write(tmp_path / "array.json", [1, 2])
    runner = CliRunner()
    result = runner.invoke(app, ["validate", str(tmp_path), str(tmp_path / "missing.json")])
    assert result.exit_code == 2, result.output
    assert "not valid JSON" in result.output
    assert "not a FHIR resource" in result.output
    assert "no such file" in result.output


def test_no_json_files_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "no .json files" in result.output


def test_profile_option_and_bundles(tmp_path: Path) -> None:
    plain = _write(tmp_path / "plain.json", {"resourceType": "Patient", "gender": "male"})
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(plain)]).exit_code == 0
    with_profile = runner.invoke(app, ["validate", str(plain), "--profile", JP_PATIENT])
    assert with_profile.exit_code == 1
    assert "Patient.identifier" in with_profile.output
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:3f1c1c4e-5b7a-4c51-9d0e-2a8f1b9c0d11",
                "resource": clins_patient(),
            },
            {
                "fullUrl": "urn:uuid:7d3e4a1b-2c9f-4e8a-b5d6-0f1e2d3c4b5a",
                "resource": {**clins_condition(), "onsetDateTime": "2023-02-30"},
            },
        ],
    }
    path = _write(tmp_path / "bundle.json", bundle)
    result = runner.invoke(app, ["validate", str(path), "--quiet"])
    assert result.exit_code == 1
    assert "Bundle (2 entries)" in result.output
    assert "onsetDateTime" not in result.output  # --quiet: the table only


def test_required_profiles_from_the_environment(tmp_path: Path) -> None:
    unclaimed = clins_condition()
    del unclaimed["meta"]["profile"]
    path = _write(tmp_path / "condition.json", unclaimed)
    env = {"TSUNAGU_REQUIRED_PROFILES": json.dumps({"Condition": [CONDITION_ECS]})}
    result = CliRunner().invoke(app, ["validate", str(path)], env=env)
    assert result.exit_code == 1
    assert "Condition.meta.profile" in result.output
