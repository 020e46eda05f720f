"""Bearer-token authentication of the FHIR API (a server without --insecure-dev).

Every attack is refused with 401, an OperationOutcome and `WWW-Authenticate: Bearer
error="invalid_token"`; public endpoints stay open; keys rotate without breaking tokens.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient
from tests.auth_tokens import TEST_BASE, TokenFactory
from tsunagu.bootstrap import Platform
from tsunagu.http.app import create_app
from tsunagu.interactions.context import Context
from tsunagu.security.principal import Role
from tsunagu.security.tokens import (
    Grant,
    generate_signing_key,
    issuer_for,
    mint_access_token,
)

GRANT = Grant("doc-1", Role.PHYSICIAN, "ehr", facility="1318814790", scopes=("user/*.rs",))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return result


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _refused(client: TestClient, headers: dict[str, str], reason: str) -> None:
    response = client.get("/fhir/Patient", headers=headers)
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"
    assert reason in outcome["issue"][0]["diagnostics"]


def test_a_valid_token_reaches_the_fhir_api(secure_client: TestClient, auth: TokenFactory) -> None:
    headers = {**FHIR_JSON, **auth.headers(Role.PHYSICIAN)}
    created = secure_client.post("/fhir/Patient", json=patient(), headers=headers)
    assert created.status_code == 201, created.text
    location = created.headers["location"].split("/_history")[0]
    assert secure_client.get(location, headers=headers).status_code == 200
    assert secure_client.get(location).status_code == 401


def test_missing_token_is_401_without_an_error_code(secure_client: TestClient) -> None:
    for headers in ({}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer "}):
        response = secure_client.get("/fhir/Patient", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="tsunagu"'
        assert "authentication required" in response.json()["issue"][0]["diagnostics"]


def test_public_endpoints_need_no_token(secure_client: TestClient) -> None:
    assert secure_client.get("/fhir/metadata").status_code == 200
    assert secure_client.get("/fhir/.well-known/smart-configuration").status_code == 200
    assert secure_client.get("/auth/jwks").status_code == 200


def test_forged_token_signed_by_another_key_under_the_server_kid(
    secure_client: TestClient, secure_platform: Platform
) -> None:
    real = secure_platform.key_ring().signing_key()
    forged = dataclasses.replace(generate_signing_key(real.created), kid=real.kid)
    token = mint_access_token(
        forged, GRANT, issuer=issuer_for(TEST_BASE), audience=TEST_BASE, now=datetime.now(UTC)
    )
    _refused(secure_client, _bearer(token), "invalid signature")


def test_expired_token(secure_client: TestClient, auth: TokenFactory) -> None:
    _refused(secure_client, auth.headers(Role.PHYSICIAN, minutes=-2), "expired")


def test_not_yet_valid_token(secure_client: TestClient, secure_platform: Platform) -> None:
    token = mint_access_token(
        secure_platform.key_ring().signing_key(),
        GRANT,
        issuer=issuer_for(TEST_BASE),
        audience=TEST_BASE,
        now=datetime.now(UTC) + timedelta(minutes=10),
    )
    _refused(secure_client, _bearer(token), "not yet valid")


def test_wrong_audience(secure_client: TestClient, auth: TokenFactory) -> None:
    headers = auth.headers(Role.PHYSICIAN, audience="http://other-server/fhir")
    _refused(secure_client, headers, "audience")


def test_wrong_issuer(secure_client: TestClient, secure_platform: Platform) -> None:
    token = mint_access_token(
        secure_platform.key_ring().signing_key(),
        GRANT,
        issuer="http://evil.example/auth",
        audience=TEST_BASE,
        now=datetime.now(UTC),
    )
    _refused(secure_client, _bearer(token), "issuer")


def test_alg_none(secure_client: TestClient, auth: TokenFactory) -> None:
    claims = _claims(auth.token(Role.PHYSICIAN))
    kid = json.loads(base64.urlsafe_b64decode(auth.token(Role.NURSE).split(".")[0] + "=="))["kid"]
    header = _b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    token = f"{header}.{_b64(json.dumps({**claims, 'role': 'administrator'}).encode())}."
    _refused(secure_client, _bearer(token), "algorithm not allowed")


def test_key_confusion_hs256_with_the_published_public_key(
    secure_client: TestClient, auth: TokenFactory
) -> None:
    published = secure_client.get("/auth/jwks").json()["keys"][0]
    claims = _claims(auth.token(Role.PHYSICIAN))
    header = _b64(json.dumps({"alg": "HS256", "kid": published["kid"], "typ": "JWT"}).encode())
    unsigned = f"{header}.{_b64(json.dumps(claims).encode())}"
    secret = json.dumps(published).encode()
    signature = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    _refused(secure_client, _bearer(f"{unsigned}.{_b64(signature)}"), "algorithm not allowed")


def test_unknown_kid(secure_client: TestClient) -> None:
    stranger = generate_signing_key(datetime.now(UTC))
    token = mint_access_token(
        stranger, GRANT, issuer=issuer_for(TEST_BASE), audience=TEST_BASE, now=datetime.now(UTC)
    )
    _refused(secure_client, _bearer(token), "unknown signing key")


def test_tampered_payload(secure_client: TestClient, auth: TokenFactory) -> None:
    token = auth.token(Role.PHARMACIST)
    head, _, signature = token.split(".")
    claims = {**_claims(token), "role": "physician", "facility": "2718814790"}
    body = _b64(json.dumps(claims).encode())
    _refused(secure_client, _bearer(f"{head}.{body}.{signature}"), "invalid signature")


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "ey.ey.ey", "a" * 5000])
def test_garbage_tokens(secure_client: TestClient, garbage: str) -> None:
    _refused(secure_client, _bearer(garbage), "malformed")


def test_rotated_key_still_verifies_old_tokens_until_retired(
    secure_client: TestClient, secure_platform: Platform, auth: TokenFactory
) -> None:
    keys = secure_platform.key_ring()
    old_token = auth.token(Role.PHYSICIAN)
    old_kid = keys.signing_key().kid
    new_key = generate_signing_key(datetime.now(UTC) + timedelta(seconds=1))
    keys.store.add_signing_key(new_key)
    keys.refresh()
    new_token = auth.token(Role.PHYSICIAN)
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] == (
        new_key.kid
    )
    published = {key["kid"] for key in secure_client.get("/auth/jwks").json()["keys"]}
    assert published == {old_kid, new_key.kid}
    assert secure_client.get("/fhir/Patient", headers=_bearer(old_token)).status_code == 200
    assert secure_client.get("/fhir/Patient", headers=_bearer(new_token)).status_code == 200

    assert keys.store.retire_signing_key(old_kid, datetime.now(UTC))
    keys.refresh()  # workers re-read keys within KeyRing.ttl; here at once
    _refused(secure_client, _bearer(old_token), "unknown signing key")
    assert secure_client.get("/fhir/Patient", headers=_bearer(new_token)).status_code == 200
    published = {key["kid"] for key in secure_client.get("/auth/jwks").json()["keys"]}
    assert published == {new_key.kid}


def test_a_key_rotated_by_another_process_is_found_by_its_kid(
    secure_client: TestClient, secure_platform: Platform
) -> None:
    keys = secure_platform.key_ring()
    keys.signing_key()
    newer = generate_signing_key(datetime.now(UTC) + timedelta(seconds=1))
    keys.store.add_signing_key(newer)  # as `tsunagu keys rotate` would, without refresh()
    keys._loaded -= 5  # the last read is older than the one-second floor for unknown kids
    token = mint_access_token(
        newer, GRANT, issuer=issuer_for(TEST_BASE), audience=TEST_BASE, now=datetime.now(UTC)
    )
    assert secure_client.get("/fhir/Patient", headers=_bearer(token)).status_code == 200


def test_jwks_publishes_public_keys_only(secure_client: TestClient) -> None:
    keys = secure_client.get("/auth/jwks").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "EC"
    assert keys[0]["alg"] == "ES256"
    assert keys[0]["use"] == "sig"
    assert "d" not in keys[0]


def test_refused_requests_reach_the_audit_sink(secure_platform: Platform) -> None:
    seen: list[Context] = []
    platform = dataclasses.replace(secure_platform, audit_sink=seen.append)
    with TestClient(create_app(platform)) as client:
        assert client.get("/fhir/Patient/123", headers=_bearer("a.b.c")).status_code == 401
    assert len(seen) == 1
    assert seen[0].principal is None
    record = seen[0].audit[0]
    assert (record.action, record.subtype, record.outcome) == ("E", "authenticate", 401)
    assert record.detail is not None
    assert "123" not in record.detail


def test_insecure_dev_needs_no_token(client: TestClient) -> None:
    assert client.get("/fhir/Patient").status_code == 200


def test_the_verified_token_cache_honours_expiry_and_retirement(
    secure_client: TestClient, secure_platform: Platform, auth: TokenFactory
) -> None:
    from tsunagu.http.authn import _VERIFIED

    token = auth.token(Role.NURSE)
    assert secure_client.get("/fhir/Patient", headers=_bearer(token)).status_code == 200
    now = datetime.now(UTC)
    cached = _VERIFIED.get(token, TEST_BASE, now)
    assert cached is not None
    assert cached[0].role is Role.NURSE
    assert _VERIFIED.get(token, "http://other/fhir", now) is None
    assert _VERIFIED.get(token, TEST_BASE, now + timedelta(minutes=31)) is None
    assert _VERIFIED.get(token, TEST_BASE, now) is None  # the expired entry was dropped
