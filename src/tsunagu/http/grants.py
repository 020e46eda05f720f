"""The OAuth2 grants of the token endpoint, apart from HTTP: a form in, a token response out.

- SMART Backend Services: `client_credentials` with a `private_key_jwt` client assertion.
- SMART App Launch: `authorization_code` with PKCE (S256), for patient apps.
Errors are `OAuthError` (RFC 6749 section 5.2); every outcome is appended to `ctx.audit`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tsunagu.bootstrap import Platform
from tsunagu.interactions.context import Context
from tsunagu.security.audit import AuditRecord
from tsunagu.security.clients import Client, excess_scopes, pkce_matches
from tsunagu.security.principal import Principal, Role
from tsunagu.security.tokens import (
    ACCESS_TOKEN_LIFETIME,
    Grant,
    TokenError,
    issuer_for,
    mint_access_token,
    unverified_claims,
    verify_client_assertion,
)
from tsunagu.storage.auth import AuthorizationCode, AuthStore

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CODE_LIFETIME = timedelta(minutes=2)
# Fetches a client's JWKS from its registered URL (injected: I/O lives in the http layer).
JwksFetcher = Callable[[str], Mapping[str, Any]]


@dataclass
class OAuthError(Exception):
    """An RFC 6749 error: `error` code, a description (ja / en) and the HTTP status."""

    error: str
    description: str
    status: int = 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def token_endpoint(fhir_base: str) -> str:
    return f"{issuer_for(fhir_base)}/token"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def issue_token(
    platform: Platform,
    ctx: Context,
    form: Mapping[str, str],
    fetch_jwks: JwksFetcher,
) -> dict[str, Any]:
    """The token response for a token request, or OAuthError (audited either way)."""
    grant_type = form.get("grant_type", "")
    try:
        if grant_type == "client_credentials":
            response = _client_credentials(platform, ctx, form, fetch_jwks)
        elif grant_type == "authorization_code":
            response = _authorization_code(platform, ctx, form)
        else:
            raise OAuthError(
                "unsupported_grant_type",
                "grant_type は client_credentials か authorization_code です / "
                "grant_type must be client_credentials or authorization_code",
            )
    except OAuthError as error:
        ctx.audit.append(
            AuditRecord(
                "E",
                "token",
                error.status,
                detail=f"{grant_type or '-'}: {error.error}: {error.description}"[:300],
            )
        )
        raise
    ctx.audit.append(
        AuditRecord(
            "E",
            "token",
            200,
            patients=(response["patient"],) if "patient" in response else (),
            detail=f"{grant_type}: issued scope={response['scope']}"[:300],
        )
    )
    return response


def _store(platform: Platform) -> AuthStore:
    return platform.key_ring().store


def _client_credentials(
    platform: Platform, ctx: Context, form: Mapping[str, str], fetch_jwks: JwksFetcher
) -> dict[str, Any]:
    if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
        raise OAuthError(
            "invalid_request",
            "client_assertion_type (jwt-bearer) と client_assertion が必要です / "
            "client_assertion_type (jwt-bearer) and client_assertion are required",
        )
    assertion = form["client_assertion"]
    try:
        client_id = str(unverified_claims(assertion).get("iss", ""))
    except TokenError as error:
        raise OAuthError("invalid_client", str(error), 401) from None
    client = _store(platform).client(client_id) if client_id else None
    if client is None or (form.get("client_id") not in (None, "", client_id)):
        raise OAuthError("invalid_client", "クライアントが不明です / unknown client", 401)
    jwks = _client_jwks(client, fetch_jwks)
    now = datetime.now(UTC)
    try:
        verified = verify_client_assertion(
            assertion, jwks, client_id=client_id, token_url=token_endpoint(ctx.base_url), now=now
        )
    except TokenError as error:
        raise OAuthError("invalid_client", str(error), 401) from None
    if not _store(platform).remember_assertion(client_id, verified.jti, verified.expires, now):
        raise OAuthError(
            "invalid_client",
            "クライアントアサーションは使用済みです (jti の再利用) / "
            "client assertion already used (jti replay)",
            401,
        )
    ctx.principal = Principal(client_id, client.role, client_id, facility=client.facility)
    scopes = _requested_scopes(form, client, required_prefix="system/")
    grant = Grant(client_id, client.role, client_id, facility=client.facility, scopes=scopes)
    return _token_response(platform, ctx, grant)


def _authorization_code(
    platform: Platform, ctx: Context, form: Mapping[str, str]
) -> dict[str, Any]:
    code, verifier = form.get("code", ""), form.get("code_verifier", "")
    if not code or not verifier:
        raise OAuthError(
            "invalid_request",
            "code と code_verifier が必要です / code and code_verifier are required",
        )
    stored = _store(platform).take_code(code_hash(code))
    invalid = OAuthError(
        "invalid_grant",
        "認可コードが無効・期限切れ・使用済みです / authorization code invalid, expired or used",
    )
    if stored is None or stored.expires < datetime.now(UTC):
        raise invalid
    if form.get("client_id") != stored.client_id:
        raise OAuthError("invalid_grant", "client_id が一致しません / client_id mismatch")
    if form.get("redirect_uri") != stored.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri が一致しません / redirect_uri mismatch")
    if not pkce_matches(verifier, stored.code_challenge):
        raise OAuthError(
            "invalid_grant", "code_verifier が一致しません (PKCE) / PKCE code_verifier mismatch"
        )
    client = _store(platform).client(stored.client_id)
    if client is None:
        raise OAuthError("invalid_client", "クライアントが不明です / unknown client", 401)
    grant = Grant(
        stored.patient_id,
        Role.PATIENT,
        client.client_id,
        facility=client.facility,
        patient=stored.patient_id,
        scopes=stored.scopes,
    )
    ctx.principal = Principal(
        stored.patient_id, Role.PATIENT, client.client_id, patient=stored.patient_id
    )
    response = _token_response(platform, ctx, grant)
    response["patient"] = stored.patient_id
    return response


def new_code(platform: Platform, code: AuthorizationCode) -> str:
    """Store a fresh one-time authorization code and return it."""
    value = secrets.token_urlsafe(32)
    _store(platform).add_code(code_hash(value), code, datetime.now(UTC))
    return value


def _requested_scopes(
    form: Mapping[str, str], client: Client, *, required_prefix: str
) -> tuple[str, ...]:
    requested = tuple(form.get("scope", "").split())
    if not requested:
        raise OAuthError("invalid_scope", "scope が必要です / scope is required")
    wrong = [scope for scope in requested if not scope.startswith(required_prefix)]
    excess = excess_scopes(client.scopes, requested)
    if wrong or excess:
        raise OAuthError(
            "invalid_scope",
            "要求スコープがクライアントの許可範囲を超えています / requested scope exceeds "
            f"what the client may have: {(wrong or excess)[0]:.60}",
        )
    return requested


def _client_jwks(client: Client, fetch_jwks: JwksFetcher) -> Mapping[str, Any]:
    if client.jwks is not None:
        return client.jwks
    if client.jwks_url:
        try:
            return fetch_jwks(client.jwks_url)
        except Exception:
            raise OAuthError(
                "invalid_client",
                "クライアントの JWKS を取得できません / cannot fetch the client's JWKS",
                401,
            ) from None
    raise OAuthError(
        "invalid_client",
        "クライアントに公開鍵が登録されていません / the client has no registered keys",
        401,
    )


def _token_response(platform: Platform, ctx: Context, grant: Grant) -> dict[str, Any]:
    token = mint_access_token(
        platform.key_ring().signing_key(),
        grant,
        issuer=issuer_for(ctx.base_url),
        audience=ctx.base_url,
        now=datetime.now(UTC),
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(ACCESS_TOKEN_LIFETIME.total_seconds()),
        "scope": " ".join(grant.scopes),
    }
