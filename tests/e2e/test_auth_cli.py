"""`tsunagu token`, `client`, `keys` and `patient-credential`, run as an operator would."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from joserfc import jwk
from typer.testing import CliRunner

from tsunagu.bootstrap import build_platform
from tsunagu.cli.main import app
from tsunagu.security.clients import check_secret
from tsunagu.security.principal import Principal
from tsunagu.security.tokens import issuer_for, verify_access_token
from tsunagu.settings import Settings

AUDIENCE = "http://127.0.0.1:8080/fhir"


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/auth.db"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    # rich wraps long lines: compare stderr with whitespace collapsed
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def _verify(database: str, token: str) -> Principal:
    platform = build_platform(Settings(database_url=database))
    try:
        keys = platform.key_ring().verification_keys()
        return verify_access_token(
            token, keys, issuer=issuer_for(AUDIENCE), audience=AUDIENCE, now=datetime.now(UTC)
        )
    finally:
        platform.close()


def test_token_is_signed_with_the_server_key(database: str) -> None:
    code, stdout, stderr = _run(
        "token", "--role", "pharmacist", "--facility", "1348812349",
        "--scopes", "user/MedicationRequest.rs", "--scopes", "user/MedicationDispense.cruds",
        "--database", database,
    )  # fmt: skip
    assert code == 0, stderr
    principal = _verify(database, stdout.strip())
    assert principal.role == "pharmacist"
    assert principal.facility == "1348812349"
    assert principal.scopes == (
        "user/MedicationRequest.rs",
        "user/MedicationDispense.cruds",
    )


def test_patient_token_is_bound_to_the_patient(database: str) -> None:
    code, stdout, _ = _run("token", "--role", "patient", "--patient", "p1", "--database", database)
    assert code == 0
    principal = _verify(database, stdout.strip())
    assert principal.patient == "p1"
    assert principal.subject == "p1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "wizard", "--facility", "1318814790"], "unknown role"),
        (["--role", "physician", "--facility", "1318814791"], "check digit"),
        (["--role", "physician"], "--facility is required"),
        (["--role", "patient"], "--patient"),
    ],
)
def test_token_refuses_bad_options(database: str, args: list[str], message: str) -> None:
    code, _, stderr = _run("token", *args, "--database", database)
    assert code == 2
    assert message in stderr.replace("│ ", "")


def test_client_add_list_remove(database: str, tmp_path: Path) -> None:
    key = jwk.ECKey.generate_key("P-384", private=True)
    jwks_file = tmp_path / "client.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [{**key.as_dict(private=False), "kid": "k1"}]}))
    add = [
        "client", "add", "--id", "ehr-1", "--role", "system", "--facility", "1318814790",
        "--jwks", str(jwks_file), "--scopes", "system/*.rs", "--database", database,
    ]  # fmt: skip
    code, _, stderr = _run(*add)
    assert code == 0, stderr
    assert "registered client ehr-1" in stderr
    code, _, stderr = _run(*add)
    assert code == 1
    assert "already exists" in stderr
    code, stdout, _ = _run("client", "list", "--database", database)
    assert code == 0
    assert "ehr-1" in stdout
    assert "system/*.rs" in stdout
    code, _, _ = _run("client", "remove", "ehr-1", "--database", database)
    assert code == 0
    code, stdout, _ = _run("client", "list", "--database", database)
    assert "ehr-1" not in stdout
    code, _, stderr = _run("client", "remove", "ehr-1", "--database", database)
    assert code == 1


def test_client_add_refuses_a_private_key(database: str, tmp_path: Path) -> None:
    key = jwk.ECKey.generate_key("P-384", private=True)
    jwks_file = tmp_path / "private.json"
    jwks_file.write_text(json.dumps({**key.as_dict(private=True), "kid": "k1"}))
    code, _, stderr = _run(
        "client", "add", "--id", "ehr-2", "--role", "system", "--facility", "1318814790",
        "--jwks", str(jwks_file), "--scopes", "system/*.rs", "--database", database,
    )  # fmt: skip
    assert code == 2
    assert "public keys only" in stderr


def test_keys_rotate_and_retire(database: str) -> None:
    code, first, _ = _run("token", "--role", "nurse", "--facility", "1318814790",
                          "--database", database)  # fmt: skip
    assert code == 0
    code, _, stderr = _run("keys", "rotate", "--database", database)
    assert code == 0
    assert "new signing key" in stderr
    code, second, _ = _run("token", "--role", "nurse", "--facility", "1318814790",
                           "--database", database)  # fmt: skip
    assert _verify(database, first.strip())
    assert _verify(database, second.strip())
    old_kid = json.loads(_b64decode(first.split(".")[0]))["kid"]
    assert old_kid != json.loads(_b64decode(second.split(".")[0]))["kid"]
    code, listing, _ = _run("keys", "list", "--database", database)
    assert "signing" in listing
    assert "verifying" in listing
    code, _, _ = _run("keys", "retire", old_kid, "--database", database)
    assert code == 0
    with pytest.raises(Exception, match="unknown signing key"):
        _verify(database, first.strip())
    assert _verify(database, second.strip())
    code, _, _ = _run("keys", "retire", old_kid, "--database", database)
    assert code == 1


@pytest.mark.parametrize("kid", ["-Ab3_x", "--x", "_y"])
def test_a_kid_that_looks_like_an_option_is_still_the_kid(database: str, kid: str) -> None:
    # Thumbprints are base64url: one in 64 starts with "-" (this test once failed on one).
    code, _, _ = _run("token", "--role", "nurse", "--facility", "1318814790",
                      "--database", database)  # fmt: skip
    assert code == 0
    code, _, stderr = _run("keys", "retire", kid, "--database", database)
    assert code == 1  # read as a kid, and no such key: not a usage error (2)
    assert f"no active key '{kid}'" in stderr


def test_patient_credential_issue(database: str, tmp_path: Path) -> None:
    code, _, stderr = _run("patient-credential", "issue", "p-9", "--database", database)
    assert code == 1
    assert "no such Patient" in stderr
    record = tmp_path / "p-9.json"
    record.write_text(json.dumps({"resourceType": "Patient", "id": "p-9"}))
    assert _run("load", str(record), "--database", database)[0] == 0
    code, stdout, stderr = _run("patient-credential", "issue", "p-9", "--database", database)
    assert code == 0
    assert "shown only once" in stderr
    secret = stdout.strip()
    assert len(secret) >= 20
    platform = build_platform(Settings(database_url=database))
    try:
        stored = platform.key_ring().store.patient_secret("p-9")
    finally:
        platform.close()
    assert stored is not None
    assert secret not in stored
    assert check_secret(secret, stored)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
