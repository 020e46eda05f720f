"""Access tokens and client assertions: minted, verified, and every forgery refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwk, jwt

from tsunagu.security.principal import Role
from tsunagu.security.tokens import (
    LEEWAY,
    Grant,
    SigningKey,
    TokenError,
    generate_signing_key,
    issuer_for,
    mint_access_token,
    verify_access_token,
    verify_client_assertion,
)

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
BASE = "https://tsunagu.example.jp/fhir"
ISSUER = issuer_for(BASE)
KEY = generate_signing_key(NOW)
KEYS = {KEY.kid: KEY.public_jwk()}
GRANT = Grant("doctor-1", Role.PHYSICIAN, "ehr-1", facility="1318814790", scopes=("user/*.rs",))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return result


def _verify(token: str, *, now: datetime = NOW, keys: dict[str, Any] | None = None) -> Any:
    return verify_access_token(
        token, KEYS if keys is None else keys, issuer=ISSUER, audience=BASE, now=now
    )


def _mint(grant: Grant = GRANT, **overrides: Any) -> str:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": BASE, "now": NOW}
    options.update(overrides)
    key = options.pop("key", KEY)
    return mint_access_token(key, grant, **options)


def test_issuer_is_the_auth_path_beside_the_fhir_base() -> None:
    assert issuer_for("https://h.example/fhir/") == "https://h.example/auth"
    assert issuer_for("http://testserver/fhir") == "http://testserver/auth"


def test_a_minted_token_carries_every_claim() -> None:
    token = _mint(Grant("p1", Role.PATIENT, "app", patient="p1", scopes=("patient/*.rs",)))
    claims = _claims(token)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == BASE
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert claims["nbf"] == claims["iat"]
    assert claims["role"] == "patient"
    assert claims["patient"] == "p1"
    assert claims["client_id"] == "app"
    assert claims["scope"] == "patient/*.rs"
    assert claims["jti"]
    assert "facility" not in claims
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"typ": "JWT", "alg": "ES256", "kid": KEY.kid}


@given(
    role=st.sampled_from(list(Role)),
    facility=st.none() | st.from_regex(r"[0-9]{10}", fullmatch=True),
    patient=st.none() | st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True),
    scopes=st.lists(st.sampled_from(["user/*.rs", "patient/Observation.r", "system/*.cruds"])),
)
def test_verification_returns_the_principal_that_was_granted(
    role: Role, facility: str | None, patient: str | None, scopes: list[str]
) -> None:
    grant = Grant("sub-1", role, "client-1", facility, patient, tuple(scopes))
    principal = _verify(_mint(grant, jti="jti-1"))
    assert principal.subject == "sub-1"
    assert principal.role is role
    assert principal.client_id == "client-1"
    assert principal.facility == facility
    assert principal.patient == patient
    assert principal.scopes == tuple(scopes)
    assert principal.token_id == "jti-1"


def test_expired_token_is_refused_after_the_leeway() -> None:
    token = _mint()
    assert _verify(token, now=NOW + timedelta(minutes=30) + LEEWAY).subject == "doctor-1"
    with pytest.raises(TokenError, match="expired"):
        _verify(token, now=NOW + timedelta(minutes=30) + LEEWAY + timedelta(seconds=1))


def test_not_yet_valid_token_is_refused() -> None:
    token = _mint(now=NOW + timedelta(minutes=5))
    with pytest.raises(TokenError, match="not yet valid"):
        _verify(token)


def test_wrong_audience_is_refused() -> None:
    with pytest.raises(TokenError, match="audience"):
        _verify(_mint(audience="https://other.example.jp/fhir"))


def test_wrong_issuer_is_refused() -> None:
    with pytest.raises(TokenError, match="issuer"):
        _verify(_mint(issuer="https://evil.example/auth"))


def test_alg_none_is_refused() -> None:
    claims = _claims(_mint())
    claims["role"] = "administrator"
    for alg in ("none", "None", "NONE"):
        with pytest.raises(TokenError, match="algorithm not allowed"):
            _verify(_compact({"alg": alg, "kid": KEY.kid, "typ": "JWT"}, claims))


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    """Key confusion: the public key (as JWK JSON or PEM) used as an HMAC secret."""
    claims = _claims(_mint())
    public = jwk.ECKey.import_key(KEY.public_jwk())
    secrets = [json.dumps(KEY.public_jwk()).encode(), public.as_pem(private=False)]
    for secret in secrets:
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            header = {"alg": alg, "kid": KEY.kid, "typ": "JWT"}
            unsigned = _compact(header, claims).rsplit(".", 1)[0]
            signature = hmac.new(secret, unsigned.encode(), digest).digest()
            with pytest.raises(TokenError, match="algorithm not allowed"):
                _verify(f"{unsigned}.{_b64(signature)}")


def test_unknown_or_missing_kid_is_refused() -> None:
    other = generate_signing_key(NOW)
    with pytest.raises(TokenError, match="kid"):
        _verify(_mint(key=other))
    header = {"alg": "ES256", "typ": "JWT"}
    token = jwt.encode(header, _claims(_mint()), jwk.import_key(KEY.private_jwk))
    with pytest.raises(TokenError, match="kid"):
        _verify(token)


def test_a_kid_claimed_by_another_key_fails_the_signature() -> None:
    other = generate_signing_key(NOW)
    forged = SigningKey(KEY.kid, other.private_jwk, NOW)
    with pytest.raises(TokenError, match="invalid signature"):
        _verify(_mint(key=forged))


def test_tampered_payload_is_refused() -> None:
    token = _mint()
    head, _, signature = token.split(".")
    claims = _claims(token)
    claims["role"] = "administrator"
    body = _b64(json.dumps(claims).encode())
    with pytest.raises(TokenError, match="invalid signature"):
        _verify(f"{head}.{body}.{signature}")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "é.é.é", "...."])
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(TokenError):
        _verify(garbage)


def test_algorithm_and_key_type_must_agree() -> None:
    rsa = jwk.RSAKey.generate_key(2048, private=True)
    public = {**rsa.as_dict(private=False), "kid": KEY.kid}
    with pytest.raises(TokenError):
        _verify(_mint(), keys={KEY.kid: public})


def test_a_token_without_exp_is_refused() -> None:
    claims = _claims(_mint())
    del claims["exp"]
    header = {"alg": "ES256", "kid": KEY.kid}
    token = jwt.encode(header, claims, jwk.import_key(KEY.private_jwk))
    with pytest.raises(TokenError, match="exp"):
        _verify(token)


def test_an_unknown_role_claim_is_refused() -> None:
    claims = {**_claims(_mint()), "role": "superuser"}
    token = jwt.encode({"alg": "ES256", "kid": KEY.kid}, claims, jwk.import_key(KEY.private_jwk))
    with pytest.raises(TokenError, match="role"):
        _verify(token)


# --- client assertions ----------------------------------------------------------------------

TOKEN_URL = f"{ISSUER}/token"
CLIENT_KEY = jwk.ECKey.generate_key("P-384", private=True)
CLIENT_JWKS = {"keys": [{**CLIENT_KEY.as_dict(private=False), "kid": "client-key-1"}]}


def _assertion(
    key: Any = CLIENT_KEY, alg: str = "ES384", kid: str = "client-key-1", **claims: Any
) -> str:
    body: dict[str, Any] = {
        "iss": "facility-ehr",
        "sub": "facility-ehr",
        "aud": TOKEN_URL,
        "exp": int(NOW.timestamp()) + 240,
        "jti": "assertion-1",
    }
    body.update(claims)
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, body, key, algorithms=[alg])


def _check(assertion: str, jwks: dict[str, Any] = CLIENT_JWKS) -> Any:
    return verify_client_assertion(
        assertion, jwks, client_id="facility-ehr", token_url=TOKEN_URL, now=NOW
    )


def test_a_valid_client_assertion_is_accepted() -> None:
    result = _check(_assertion())
    assert result.jti == "assertion-1"
    assert result.client_id == "facility-ehr"
    assert result.expires == NOW + timedelta(seconds=240)


def test_an_rs384_client_assertion_is_accepted() -> None:
    rsa = jwk.RSAKey.generate_key(2048, private=True)
    jwks = {"keys": [{**rsa.as_dict(private=False), "kid": "rsa-1"}]}
    assert _check(_assertion(rsa, "RS384", "rsa-1"), jwks).jti == "assertion-1"


def test_client_assertion_signed_with_another_key_is_refused() -> None:
    stranger = jwk.ECKey.generate_key("P-384", private=True)
    with pytest.raises(TokenError, match="invalid signature"):
        _check(_assertion(stranger))


def test_client_assertion_with_wrong_audience_is_refused() -> None:
    with pytest.raises(TokenError, match="audience"):
        _check(_assertion(aud=BASE))


def test_client_assertion_living_too_long_is_refused() -> None:
    with pytest.raises(TokenError, match="at most 5 minutes"):
        _check(_assertion(exp=int(NOW.timestamp()) + 3600))


def test_expired_client_assertion_is_refused() -> None:
    with pytest.raises(TokenError, match="expired"):
        _check(_assertion(exp=int(NOW.timestamp()) - 120))


def test_client_assertion_for_another_client_is_refused() -> None:
    with pytest.raises(TokenError, match="iss and sub"):
        _check(_assertion(sub="someone-else"))


def test_client_assertion_algorithms_are_rs384_and_es384_only() -> None:
    p256 = jwk.ECKey.generate_key("P-256", private=True)
    jwks = {"keys": [{**p256.as_dict(private=False), "kid": "p256"}]}
    with pytest.raises(TokenError, match="algorithm not allowed"):
        _check(_assertion(p256, "ES256", "p256"), jwks)


def test_client_assertion_without_jti_is_refused() -> None:
    with pytest.raises(TokenError, match="jti"):
        _check(_assertion(jti=None))
