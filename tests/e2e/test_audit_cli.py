"""`tsunagu audit verify | list`, run as an operator would.

`tests/api/test_audit_tamper.py` covers every kind of tampering in-process on both backends;
here the command itself: exit 0 on an intact chain, exit 1 naming the first bad link after a
row was changed in SQL, and a patient's access history.
"""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from tests.e2e.cli import run_tsunagu
from tsunagu.bootstrap import build_platform
from tsunagu.http.app import create_app
from tsunagu.settings import Settings
from tsunagu.storage.sql.repository import SqlRepository

FHIR_JSON = {"content-type": "application/fhir+json"}


def test_verify_and_list(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/audit.db"
    platform = build_platform(Settings(database_url=database, insecure_dev=True))
    with TestClient(create_app(platform)) as client:
        body = {"resourceType": "Patient", "name": [{"family": "山田"}]}
        pid = client.post("/fhir/Patient", json=body, headers=FHIR_JSON).json()["id"]
        for _ in range(3):
            client.get(f"/fhir/Patient/{pid}")
        client.get("/fhir/Patient?name=山田")

    listed = run_tsunagu("audit", "list", "--patient", pid, "--database", database, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "5 events" in listed.stdout
    assert listed.stdout.count("read") == 3
    assert "create" in listed.stdout
    assert "search-type" in listed.stdout

    intact = run_tsunagu("audit", "verify", "--database", database, cwd=tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("OK: 5 links verified")  # the CLI itself is not audited

    platform = build_platform(Settings(database_url=database, insecure_dev=True))
    repository = platform.repository
    assert isinstance(repository, SqlRepository)
    with repository.dialect.writer() as conn:
        conn.execute("UPDATE audit_chain SET hash = ? WHERE seq = 4", ("0" * 64,))
    platform.close()
    broken = run_tsunagu("audit", "verify", "--database", database, cwd=tmp_path)
    assert broken.returncode == 1
    assert "BROKEN at link 4" in broken.stderr
    assert "Traceback" not in broken.stderr
