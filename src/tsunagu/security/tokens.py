"""Signed JWT access tokens and SMART client assertions: minting and verification.

Pure: keys arrive as JWK dictionaries and time as an argument; storage of keys, replay
records and the HTTP surface live elsewhere (`storage.auth`, `http.oauth`).

The server signs access tokens with ES256 under a `kid`; verification accepts only the
algorithms in `ACCESS_TOKEN_ALGORITHMS` (never `none`, never an HMAC: a public key must never
be usable as a shared secret), looks the key up by `kid`, checks the signature, then the
claims (`iss`, `aud`, `exp`, `nbf` with `LEEWAY`). Every failure is a `TokenError` whose
message is safe to return to the caller (Japanese, then English).
See: https://www.rfc-editor.org/rfc/rfc7519, https://hl7.org/fhir/smart-app-launch/backend-services.html
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwk, jws, jwt
from joserfc.errors import JoseError

from tsunagu.security.principal import Principal, Role

ACCESS_TOKEN_ALGORITHMS = ("ES256", "RS256")
ASSERTION_ALGORITHMS = ("RS384", "ES384")
SIGNING_ALGORITHM = "ES256"
LEEWAY = timedelta(seconds=30)
ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
# SMART Backend Services: a client assertion expires at most 5 minutes after it is made.
ASSERTION_MAX_LIFETIME = timedelta(minutes=5)
_KEY_TYPES = {"ES": "EC", "RS": "RSA"}


class TokenError(Exception):
    """A token or assertion that must be refused; `str()` is safe to show the caller."""


@dataclass(frozen=True)
class SigningKey:
    """One server signing key (a private JWK). Retired keys neither sign nor verify."""

    kid: str
    private_jwk: dict[str, Any]
    created: datetime
    retired: datetime | None = None
    algorithm: str = SIGNING_ALGORITHM

    def public_jwk(self) -> dict[str, Any]:
        """The public half, as published in the JWKS."""
        key = jwk.import_key(self.private_jwk)
        public: dict[str, Any] = dict(key.as_dict(private=False))
        public.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return public


def generate_signing_key(now: datetime) -> SigningKey:
    """A fresh P-256 key; its `kid` is the RFC 7638 thumbprint."""
    key = jwk.ECKey.generate_key("P-256", private=True, auto_kid=True)
    return SigningKey(key.kid or secrets.token_urlsafe(16), dict(key.as_dict(private=True)), now)


@dataclass(frozen=True)
class Grant:
    """What an access token says about its bearer."""

    subject: str
    role: Role
    client_id: str
    facility: str | None = None
    patient: str | None = None
    scopes: tuple[str, ...] = ()
    lifetime: timedelta = ACCESS_TOKEN_LIFETIME
    extra: Mapping[str, str] = field(default_factory=dict)


def mint_access_token(
    key: SigningKey,
    grant: Grant,
    *,
    issuer: str,
    audience: str,
    now: datetime,
    jti: str | None = None,
) -> str:
    """A signed access token (compact JWS) for `grant`."""
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": grant.subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(grant.lifetime.total_seconds()),
        "jti": jti or secrets.token_urlsafe(16),
        "client_id": grant.client_id,
        "role": str(grant.role),
        "scope": " ".join(grant.scopes),
    }
    if grant.facility is not None:
        claims["facility"] = grant.facility
    if grant.patient is not None:
        claims["patient"] = grant.patient
    claims.update(grant.extra)
    header = {"alg": key.algorithm, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, jwk.import_key(key.private_jwk), algorithms=[key.algorithm])


def verify_access_token(
    token: str,
    keys: Mapping[str, Mapping[str, Any]],
    *,
    issuer: str,
    audience: str,
    now: datetime,
) -> Principal:
    """The principal an access token describes, or TokenError.

    `keys` maps each `kid` that may verify (current and not yet retired) to its public JWK.
    """
    claims = _verified_claims(token, keys, ACCESS_TOKEN_ALGORITHMS)
    if not _audience_matches(claims.get("aud"), audience):
        raise TokenError("トークンの対象 (aud) が不正です / token audience is not this server")
    if claims.get("iss") != issuer:
        raise TokenError("トークンの発行者が不正です / token issuer is not this server")
    _check_times(claims, now)
    role = _role(claims.get("role"))
    subject, client_id, jti = (_string(claims, name) for name in ("sub", "client_id", "jti"))
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise TokenError("scope が不正です / scope claim must be a string")
    return Principal(
        subject=subject,
        role=role,
        client_id=client_id,
        facility=_optional_string(claims, "facility"),
        patient=_optional_string(claims, "patient"),
        scopes=tuple(scope.split()),
        token_id=jti,
    )


@dataclass(frozen=True)
class Assertion:
    """A verified client assertion: its `jti` (to refuse replays) and when it expires."""

    client_id: str
    jti: str
    expires: datetime


def verify_client_assertion(
    assertion: str,
    client_jwks: Mapping[str, Any],
    *,
    client_id: str,
    token_url: str,
    now: datetime,
) -> Assertion:
    """Check a SMART Backend Services client assertion signed with the client's key.

    iss = sub = client_id, aud = the token endpoint URL, exp in the future but at most five
    minutes ahead, a `jti`. Replay detection (the `jti` seen before) is the caller's job.
    """
    keys = {
        str(key["kid"]): key
        for key in client_jwks.get("keys", [])
        if isinstance(key, Mapping) and "kid" in key
    }
    claims = _verified_claims(assertion, keys, ASSERTION_ALGORITHMS)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise TokenError(
            "クライアントアサーションの iss/sub が client_id と一致しません / "
            "client assertion iss and sub must equal the client_id"
        )
    if not _audience_matches(claims.get("aud"), token_url):
        raise TokenError(
            "クライアントアサーションの aud がトークンエンドポイントではありません / "
            "client assertion audience must be the token endpoint URL"
        )
    exp = _check_times(claims, now)
    if exp - now.timestamp() > (ASSERTION_MAX_LIFETIME + LEEWAY).total_seconds():
        raise TokenError(
            "クライアントアサーションの有効期限が長すぎます (最大5分) / "
            "client assertion expiry must be at most 5 minutes ahead"
        )
    jti = _string(claims, "jti")
    return Assertion(client_id, jti, datetime.fromtimestamp(exp, now.tzinfo))


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact token, or TokenError (no signature check)."""
    try:
        obj = jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, UnicodeEncodeError) as error:
        raise TokenError("トークンの形式が不正です / malformed token") from error
    return dict(obj.headers())


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a compact JWT before any check (to find which client signed it)."""
    try:
        obj = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeEncodeError) as error:
        raise TokenError("トークンの形式が不正です / malformed token") from error
    if not isinstance(claims, dict):
        raise TokenError("トークンの形式が不正です / malformed token")
    return claims


def unverified_expiry(token: str) -> float:
    """The `exp` of a token already verified (0 when absent: treat as expired)."""
    exp = unverified_claims(token).get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return 0.0


def issuer_for(fhir_base: str) -> str:
    """The authorisation server's issuer for a FHIR base URL: `{origin}/auth`."""
    base = fhir_base.rstrip("/")
    return f"{base.removesuffix('/fhir')}/auth"


# --- helpers ----------------------------------------------------------------------------


def _verified_claims(
    token: str, keys: Mapping[str, Mapping[str, Any]], algorithms: tuple[str, ...]
) -> dict[str, Any]:
    header = unverified_header(token)
    alg = header.get("alg")
    if alg not in algorithms:
        raise TokenError(
            f"署名アルゴリズムが許可されていません / signing algorithm not allowed: {alg!s:.20}"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise TokenError("署名鍵 (kid) が不明です / unknown signing key (kid)")
    try:
        key = _import_public(json.dumps(keys[kid], sort_keys=True))
    except (JoseError, ValueError, TypeError) as error:
        raise TokenError("署名鍵が不正です / signing key is unusable") from error
    if key.key_type != _KEY_TYPES[alg[:2]]:
        raise TokenError("署名鍵の種類が不正です / key type does not match the algorithm")
    try:
        decoded = jwt.decode(token, key, algorithms=[alg])
    except (JoseError, ValueError) as error:
        raise TokenError("署名が不正です / invalid signature") from error
    return dict(decoded.claims)


@functools.lru_cache(maxsize=64)
def _import_public(jwk_json: str) -> jwk.Key:
    """An imported JWK (importing costs ~0.3 ms; the same few keys verify every request)."""
    return jwk.import_key(json.loads(jwk_json))


def _check_times(claims: Mapping[str, Any], now: datetime) -> float:
    """Check exp (required) and nbf/iat (optional); returns exp."""
    leeway = LEEWAY.total_seconds()
    current = now.timestamp()
    exp = claims.get("exp")
    if not _is_number(exp):
        raise TokenError("有効期限 (exp) がありません / missing expiry (exp)")
    assert isinstance(exp, int | float)
    if current > exp + leeway:
        raise TokenError("トークンの有効期限が切れています / token expired")
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_number(nbf) or current + leeway < nbf):
        raise TokenError("トークンはまだ有効ではありません / token not yet valid (nbf)")
    iat = claims.get("iat")
    if iat is not None and (not _is_number(iat) or current + leeway < iat):
        raise TokenError("トークンの発行時刻が未来です / token issued in the future (iat)")
    return float(exp)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _audience_matches(aud: object, expected: str) -> bool:
    expected = expected.rstrip("/")
    if isinstance(aud, str):
        return aud.rstrip("/") == expected
    if isinstance(aud, list):
        return any(isinstance(item, str) and item.rstrip("/") == expected for item in aud)
    return False


def _role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise TokenError("role が不正です / unknown role claim") from None


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise TokenError(f"{name} がありません / missing {name} claim")
    return value


def _optional_string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TokenError(f"{name} が不正です / {name} claim must be a string")
    return value
