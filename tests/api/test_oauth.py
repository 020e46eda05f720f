"""The OAuth2 endpoints: SMART Backend Services, App Launch with PKCE, configuration, JWKS."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwk, jwt
from starlette.testclient import TestClient

from tests.auth_tokens import TEST_BASE
from tsunagu.bootstrap import Platform
from tsunagu.http.app import create_app
from tsunagu.interactions.context import Context
from tsunagu.security.clients import Client, hash_secret
from tsunagu.security.principal import Role
from tsunagu.storage.auth import AuthorizationCode

TOKEN_URL = "http://testserver/auth/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_KEY = jwk.ECKey.generate_key("P-384", private=True)
RSA_KEY = jwk.RSAKey.generate_key(2048, private=True)
REDIRECT = "https://app.example.jp/callback"
VERIFIER = "v" * 20 + "-erifier._~" + "x" * 20


def _jwks(*keys: tuple[Any, str]) -> dict[str, Any]:
    return {"keys": [{**key.as_dict(private=False), "kid": kid} for key, kid in keys]}


def _register(platform: Platform, **changes: Any) -> Client:
    fields: dict[str, Any] = {
        "client_id": "ehr-system",
        "role": Role.SYSTEM,
        "facility": "1318814790",
        "scopes": ("system/*.rs", "system/Observation.cruds"),
        "jwks": _jwks((CLIENT_KEY, "k1"), (RSA_KEY, "r1")),
    }
    fields.update(changes)
    client = Client(**fields)
    assert platform.key_ring().store.add_client(client, datetime.now(UTC))
    return client


def _assertion(key: Any = CLIENT_KEY, alg: str = "ES384", kid: str = "k1", **claims: Any) -> str:
    body = {
        "iss": "ehr-system",
        "sub": "ehr-system",
        "aud": TOKEN_URL,
        "exp": int(time.time()) + 240,
        "jti": f"jti-{time.time_ns()}",
    }
    body.update(claims)
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, body, key, algorithms=[alg])


def _backend(client: TestClient, assertion: str, scope: str = "system/*.rs") -> Any:
    return client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "scope": scope,
        },
    )


def _claims(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return result


def _oauth_error(response: Any, status: int, error: str, text: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert text in body["error_description"]
    assert response.headers["cache-control"] == "no-store"


# --- configuration -----------------------------------------------------------------------


def test_smart_configuration(secure_client: TestClient) -> None:
    config = secure_client.get("/fhir/.well-known/smart-configuration").json()
    assert config["issuer"] == "http://testserver/auth"
    assert config["token_endpoint"] == TOKEN_URL
    assert config["jwks_uri"] == "http://testserver/auth/jwks"
    assert config["authorization_endpoint"] == "http://testserver/auth/authorize"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert set(config["grant_types_supported"]) == {"client_credentials", "authorization_code"}
    assert "client-confidential-asymmetric" in config["capabilities"]
    assert "system/*.rs" in config["scopes_supported"]


def test_capability_statement_declares_smart_security(secure_client: TestClient) -> None:
    security = secure_client.get("/fhir/metadata").json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris == {"token": TOKEN_URL, "authorize": "http://testserver/auth/authorize"}


# --- SMART Backend Services ----------------------------------------------------------------


def test_backend_services_token_opens_the_fhir_api(
    secure_client: TestClient, secure_platform: Platform
) -> None:
    _register(secure_platform)
    response = _backend(secure_client, _assertion(), "system/Patient.rs system/Observation.c")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1800
    assert body["scope"] == "system/Patient.rs system/Observation.c"
    assert response.headers["cache-control"] == "no-store"
    claims = _claims(body["access_token"])
    assert claims["sub"] == claims["client_id"] == "ehr-system"
    assert claims["role"] == "system"
    assert claims["facility"] == "1318814790"
    assert claims["aud"] == TEST_BASE
    assert claims["iss"] == "http://testserver/auth"
    headers = {"authorization": f"Bearer {body['access_token']}"}
    assert secure_client.get("/fhir/Patient", headers=headers).status_code == 200


def test_rs384_assertion_is_accepted(secure_client: TestClient, secure_platform: Platform) -> None:
    _register(secure_platform)
    assert _backend(secure_client, _assertion(RSA_KEY, "RS384", "r1")).status_code == 200


def test_assertion_signed_with_a_wrong_key(
    secure_client: TestClient, secure_platform: Platform
) -> None:
    _register(secure_platform)
    stranger = jwk.ECKey.generate_key("P-384", private=True)
    response = _backend(secure_client, _assertion(stranger))
    _oauth_error(response, 401, "invalid_client", "invalid signature")


def test_replayed_assertion_jti(secure_client: TestClient, secure_platform: Platform) -> None:
    _register(secure_platform)
    assertion = _assertion()
    assert _backend(secure_client, assertion).status_code == 200
    _oauth_error(_backend(secure_client, assertion), 401, "invalid_client", "replay")
    fresh = _assertion(jti="another")
    assert _backend(secure_client, fresh).status_code == 200


def test_assertion_with_wrong_audience(
    secure_client: TestClient, secure_platform: Platform
) -> None:
    _register(secure_platform)
    response = _backend(secure_client, _assertion(aud=TEST_BASE))
    _oauth_error(response, 401, "invalid_client", "audience")


def test_assertion_expiring_too_late(secure_client: TestClient, secure_platform: Platform) -> None:
    _register(secure_platform)
    response = _backend(secure_client, _assertion(exp=int(time.time()) + 3600))
    _oauth_error(response, 401, "invalid_client", "at most 5 minutes")


def test_assertion_of_an_unknown_client(secure_client: TestClient) -> None:
    _oauth_error(_backend(secure_client, _assertion()), 401, "invalid_client", "unknown client")


def test_assertion_with_alg_none(secure_client: TestClient, secure_platform: Platform) -> None:
    _register(secure_platform)
    claims = _claims(_assertion())
    head = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = _backend(secure_client, f"{head}.{body}.")
    _oauth_error(response, 401, "invalid_client", "algorithm not allowed")


@pytest.mark.parametrize(
    "scope",
    ["system/*.cruds", "system/Patient.c", "user/*.rs", "patient/*.rs", "system/*.rs openid", ""],
)
def test_scope_escalation_is_refused(
    secure_client: TestClient, secure_platform: Platform, scope: str
) -> None:
    _register(secure_platform)
    _oauth_error(_backend(secure_client, _assertion(), scope), 400, "invalid_scope")


def test_malformed_token_requests(secure_client: TestClient, secure_platform: Platform) -> None:
    _register(secure_platform)
    _oauth_error(
        secure_client.post("/auth/token", data={"grant_type": "password"}),
        400,
        "unsupported_grant_type",
    )
    _oauth_error(
        secure_client.post("/auth/token", data={"grant_type": "client_credentials"}),
        400,
        "invalid_request",
    )
    as_json = secure_client.post("/auth/token", json={"grant_type": "client_credentials"})
    _oauth_error(as_json, 400, "invalid_request", "x-www-form-urlencoded")
    wrong_id = secure_client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "someone-else",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": _assertion(),
            "scope": "system/*.rs",
        },
    )
    _oauth_error(wrong_id, 401, "invalid_client")


def test_token_issuance_and_denial_reach_the_audit_sink(secure_platform: Platform) -> None:
    _register(secure_platform)
    seen: list[Context] = []
    platform = dataclasses.replace(secure_platform, audit_sink=seen.append)
    with TestClient(create_app(platform)) as client:
        assert _backend(client, _assertion()).status_code == 200
        assert _backend(client, _assertion(), "system/*.cruds").status_code == 400
    granted, refused = seen
    assert granted.principal is not None
    assert granted.principal.client_id == "ehr-system"
    assert granted.principal.facility == "1318814790"
    assert (granted.audit[0].subtype, granted.audit[0].outcome) == ("token", 200)
    assert refused.audit[0].outcome == 400
    assert "invalid_scope" in (refused.audit[0].detail or "")


# --- SMART App Launch (patient) -----------------------------------------------------------


def _challenge(verifier: str = VERIFIER) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _launch_params(**changes: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "patient-app",
        "redirect_uri": REDIRECT,
        "scope": "patient/*.rs launch/patient",
        "state": "st-42",
        "aud": TEST_BASE,
        "code_challenge": _challenge(),
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return params


@pytest.fixture
def patient_app(secure_platform: Platform, secure_client: TestClient) -> str:
    """A registered patient app and Patient/pt-1 with the secret 'correct horse'."""
    _register(
        secure_platform,
        client_id="patient-app",
        role=Role.PATIENT,
        facility=None,
        jwks=None,
        scopes=("patient/*.rs", "launch/patient", "openid", "fhirUser", "user/*.rs"),
        redirect_uris=(REDIRECT,),
    )
    store = secure_platform.key_ring().store
    store.set_patient_secret("pt-1", hash_secret("correct horse"), datetime.now(UTC))
    return "pt-1"


def _sign_in(client: TestClient, secret: str = "correct horse", **changes: str) -> Any:
    form = {**_launch_params(**changes), "patient_id": "pt-1", "secret": secret}
    return client.post("/auth/authorize", data=form, follow_redirects=False)


def _code(client: TestClient) -> str:
    response = _sign_in(client)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["st-42"]
    code: str = query["code"][0]
    return code


def _exchange(client: TestClient, code: str, **changes: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "patient-app",
        "code_verifier": VERIFIER,
    }
    form.update(changes)
    return client.post("/auth/token", data=form)


def test_authorize_shows_a_japanese_first_sign_in_page(
    secure_client: TestClient, patient_app: str
) -> None:
    page = secure_client.get("/auth/authorize", params=_launch_params())
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "患者サインイン" in page.text
    assert "Patient ID" in page.text
    assert page.text.index("患者ID") < page.text.index("Patient ID")
    assert 'name="code_challenge"' in page.text
    assert page.headers["x-frame-options"] == "DENY"


def test_patient_app_launch_end_to_end(secure_client: TestClient, patient_app: str) -> None:
    response = _sign_in(secure_client)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    code = parse_qs(location.query)["code"][0]
    token = _exchange(secure_client, code)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["patient"] == "pt-1"
    assert body["scope"] == "patient/*.rs launch/patient"
    claims = _claims(body["access_token"])
    assert claims["role"] == "patient"
    assert claims["patient"] == "pt-1"
    assert claims["sub"] == "pt-1"
    headers = {"authorization": f"Bearer {body['access_token']}"}
    # authenticated: whatever the access policy decides, it is not a 401
    assert secure_client.get("/fhir/Patient/pt-1", headers=headers).status_code != 401
    assert secure_client.get("/fhir/Patient/pt-1").status_code == 401


def test_wrong_patient_secret_shows_the_form_again(
    secure_client: TestClient, patient_app: str
) -> None:
    response = _sign_in(secure_client, secret="wrong")
    assert response.status_code == 401
    assert "患者IDまたは秘密情報が正しくありません" in response.text
    assert "location" not in response.headers
    unknown = secure_client.post(
        "/auth/authorize",
        data={**_launch_params(), "patient_id": "nobody", "secret": "correct horse"},
        follow_redirects=False,
    )
    assert unknown.status_code == 401


def test_pkce_wrong_verifier(secure_client: TestClient, patient_app: str) -> None:
    code = _code(secure_client)
    response = _exchange(secure_client, code, code_verifier="w" * 43)
    _oauth_error(response, 400, "invalid_grant", "PKCE")
    # the code was consumed by the failed attempt: no second guess
    _oauth_error(_exchange(secure_client, code), 400, "invalid_grant", "used")


def test_code_reuse(secure_client: TestClient, patient_app: str) -> None:
    code = _code(secure_client)
    assert _exchange(secure_client, code).status_code == 200
    _oauth_error(_exchange(secure_client, code), 400, "invalid_grant", "used")


def test_expired_code(
    secure_client: TestClient, secure_platform: Platform, patient_app: str
) -> None:
    from tsunagu.http.grants import new_code

    code = new_code(
        secure_platform,
        AuthorizationCode(
            "patient-app",
            REDIRECT,
            "pt-1",
            ("patient/*.rs",),
            _challenge(),
            datetime.now(UTC) - timedelta(seconds=1),
        ),
    )
    _oauth_error(_exchange(secure_client, code), 400, "invalid_grant", "expired")


def test_redirect_uri_mismatch_at_authorize_is_not_redirected(
    secure_client: TestClient, patient_app: str
) -> None:
    for uri in ("https://evil.example/callback", REDIRECT + "/x", REDIRECT.upper()):
        page = secure_client.get(
            "/auth/authorize", params=_launch_params(redirect_uri=uri), follow_redirects=False
        )
        assert page.status_code == 400
        assert "location" not in page.headers
        assert "redirect_uri" in page.text
        signed = _sign_in(secure_client, redirect_uri=uri)
        assert signed.status_code == 400
        assert "location" not in signed.headers


def test_redirect_uri_mismatch_at_the_token_endpoint(
    secure_client: TestClient, patient_app: str
) -> None:
    code = _code(secure_client)
    response = _exchange(secure_client, code, redirect_uri="https://app.example.jp/other")
    _oauth_error(response, 400, "invalid_grant", "redirect_uri")


def test_client_id_mismatch_at_the_token_endpoint(
    secure_client: TestClient, patient_app: str
) -> None:
    response = _exchange(secure_client, _code(secure_client), client_id="ehr-system")
    _oauth_error(response, 400, "invalid_grant", "client_id")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"aud": "http://other/fhir"}, "invalid_request"),
        ({"scope": "patient/*.cruds"}, "invalid_scope"),
        ({"scope": "user/*.rs"}, "invalid_scope"),
    ],
)
def test_bad_authorize_requests_redirect_with_an_error(
    secure_client: TestClient, patient_app: str, changes: dict[str, str], error: str
) -> None:
    response = secure_client.get(
        "/auth/authorize", params=_launch_params(**changes), follow_redirects=False
    )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == [error]
    assert query["state"] == ["st-42"]
    assert "code" not in query


def test_unknown_client_at_authorize(secure_client: TestClient, patient_app: str) -> None:
    page = secure_client.get(
        "/auth/authorize", params=_launch_params(client_id="nope"), follow_redirects=False
    )
    assert page.status_code == 400
    assert "unknown client_id" in page.text


def test_client_keys_fetched_from_a_jwks_url(
    secure_client: TestClient, secure_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tsunagu.http import oauth

    _register(secure_platform, jwks=None, jwks_url="https://ehr.example.jp/jwks.json")
    fetched: list[str] = []

    def fake_fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return _jwks((CLIENT_KEY, "k1"))

    monkeypatch.setattr(oauth, "fetch_jwks", fake_fetch)
    assert _backend(secure_client, _assertion()).status_code == 200
    assert fetched == ["https://ehr.example.jp/jwks.json"]

    def unreachable(url: str) -> dict[str, Any]:
        raise OSError("connection refused")

    monkeypatch.setattr(oauth, "fetch_jwks", unreachable)
    response = _backend(secure_client, _assertion())
    _oauth_error(response, 401, "invalid_client", "cannot fetch")


def test_jwks_urls_must_be_https() -> None:
    from tsunagu.http.oauth import fetch_jwks

    with pytest.raises(ValueError, match="https"):
        fetch_jwks("http://ehr.example.jp/jwks.json")
