"""Client registration, facility codes, scope coverage, patient secrets and PKCE."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagu.security.clients import (
    Client,
    RegistrationError,
    check_digit,
    check_secret,
    excess_scopes,
    facility_code,
    facility_problem,
    hash_secret,
    pkce_challenge,
    pkce_matches,
    scope_covers,
    validate_client,
)
from tsunagu.security.principal import Role

JWKS: dict[str, object] = {"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b", "kid": "k"}]}


def test_known_facility_code_is_valid() -> None:
    assert facility_problem("1318814790") is None  # 東京都 医科 88-1479, check digit 0
    assert check_digit("881479") == "0"


@given(
    prefecture=st.integers(1, 47),
    table=st.sampled_from("134"),
    body=st.from_regex(r"[0-9]{6}", fullmatch=True),
)
def test_built_codes_are_valid_and_any_single_digit_change_is_caught(
    prefecture: int, table: str, body: str
) -> None:
    code = facility_code(prefecture, table, body[:2], body[2:])
    assert facility_problem(code) is None
    for position in range(3, 10):  # every digit the check digit covers, and itself
        changed = str((int(code[position]) + 1) % 10)
        assert facility_problem(code[:position] + changed + code[position + 1 :]) is not None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("131881479", "10 digits"),
        ("13188147900", "10 digits"),
        ("13188147a0", "10 digits"),
        ("0018814790", "prefecture"),
        ("4818814790", "prefecture"),
        ("1328814790", "fee table"),
        ("1318814791", "check digit"),
    ],
)
def test_bad_facility_codes_say_why(code: str, reason: str) -> None:
    problem = facility_problem(code)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize(
    ("allowed", "requested", "covered"),
    [
        ("system/*.rs", "system/Patient.rs", True),
        ("system/*.rs", "system/Patient.r", True),
        ("system/*.rs", "system/Patient.c", False),
        ("system/*.cruds", "system/Observation.read", True),
        ("system/*.read", "system/Observation.rs", True),
        ("system/Patient.rs", "system/Observation.rs", False),
        ("system/Patient.rs", "system/*.rs", False),
        ("user/*.cruds", "system/*.rs", False),
        ("patient/*.rs", "patient/*.rs", True),
        ("launch/patient", "launch/patient", True),
        ("openid", "fhirUser", False),
    ],
)
def test_scope_coverage(allowed: str, requested: str, covered: bool) -> None:
    assert scope_covers(allowed, requested) is covered


def test_excess_scopes_lists_what_is_not_granted() -> None:
    allowed = ["system/*.rs", "system/Observation.cruds"]
    requested = ["system/Patient.r", "system/Observation.c", "system/Patient.c", "user/*.rs"]
    assert excess_scopes(allowed, requested) == ["system/Patient.c", "user/*.rs"]


def _client(**changes: object) -> Client:
    fields: dict[str, object] = {
        "client_id": "ehr-1",
        "role": Role.PHYSICIAN,
        "facility": "1318814790",
        "scopes": ("system/*.rs",),
        "jwks": JWKS,
    }
    fields.update(changes)
    return Client(**fields)  # type: ignore[arg-type]


def test_a_consistent_client_is_accepted() -> None:
    assert validate_client(_client()).client_id == "ehr-1"
    app = _client(
        role=Role.PATIENT, facility=None, jwks=None, redirect_uris=("https://app.example/cb",)
    )
    assert validate_client(app).role is Role.PATIENT


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_id": "bad id"}, "client_id"),
        ({"facility": "1318814791"}, "check digit"),
        ({"facility": None}, "facility code is required"),
        ({"facility": facility_code(13, "4", "88", "1479")}, "pharmacy"),
        ({"scopes": ()}, "scope"),
        ({"scopes": ("system/*.rs", "DROP TABLE")}, "invalid scope"),
        ({"jwks": None}, "JWKS"),
        ({"jwks": {"keys": []}}, "no keys"),
        ({"jwks": {"keys": [{"kty": "EC", "d": "secret", "kid": "k"}]}}, "public keys only"),
        ({"jwks": {"keys": [{"kty": "EC"}]}}, "kid"),
        ({"jwks": None, "redirect_uris": ("javascript:alert(1)",)}, "redirect URI"),
    ],
)
def test_inconsistent_registrations_are_refused(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(RegistrationError, match=reason):
        validate_client(_client(**changes))


def test_a_pharmacist_may_register_with_a_pharmacy_code() -> None:
    client = _client(role=Role.PHARMACIST, facility=facility_code(27, "4", "12", "3456"))
    assert validate_client(client).role is Role.PHARMACIST


def test_patient_secrets_are_salted_scrypt_hashes() -> None:
    first, second = hash_secret("s3cret"), hash_secret("s3cret")
    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert "s3cret" not in first
    assert check_secret("s3cret", first)
    assert check_secret("s3cret", second)
    assert not check_secret("s3cret!", first)
    assert not check_secret("s3cret", "plain$text")
    assert not check_secret("s3cret", "")


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not pkce_matches(verifier[:-1] + "l", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


def test_pkce_verifier_must_be_43_to_128_unreserved_characters() -> None:
    short = "a" * 42
    challenge = base64.urlsafe_b64encode(hashlib.sha256(short.encode()).digest())
    assert not pkce_matches(short, challenge.rstrip(b"=").decode())
    assert pkce_matches("a" * 43, pkce_challenge("a" * 43))
