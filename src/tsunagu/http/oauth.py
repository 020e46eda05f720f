"""The authorisation server's HTTP surface: /auth/token, /auth/authorize, /auth/jwks and
/fhir/.well-known/smart-configuration.

Grant logic is in `grants`; the patient sign-in page in `login_page`.
See: https://hl7.org/fhir/smart-app-launch/ (App Launch, Backend Services, conformance)
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tsunagu.bootstrap import Platform
from tsunagu.http import login_page
from tsunagu.http.authn import emit
from tsunagu.http.grants import CODE_LIFETIME, OAuthError, issue_token, new_code, token_endpoint
from tsunagu.security.audit import AuditRecord
from tsunagu.security.clients import Client, check_secret, excess_scopes
from tsunagu.security.principal import Principal, Role
from tsunagu.security.tokens import ASSERTION_ALGORITHMS, issuer_for
from tsunagu.storage.auth import AuthorizationCode

_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_MAX_FORM_BYTES = 64 * 1024
SCOPES_SUPPORTED = [
    "system/*.rs",
    "system/*.cruds",
    "user/*.rs",
    "user/*.cruds",
    "patient/*.rs",
    "launch/patient",
    "openid",
    "fhirUser",
]


def fhir_base(platform: Platform, request: Request) -> str:
    """The FHIR base URL of this server, as the client reached it (or as configured)."""
    if platform.settings.base_url:
        return platform.settings.base_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}/fhir"


def smart_configuration(fhir_base_url: str) -> dict[str, Any]:
    """The SMART configuration document for a FHIR base URL."""
    issuer = issuer_for(fhir_base_url)
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/jwks",
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": [
            "client-confidential-asymmetric",
            "client-public",
            "launch-standalone",
            "context-standalone-patient",
            "permission-patient",
            "permission-user",
            "permission-v2",
        ],
    }


def oauth_routes(platform: Platform) -> list[BaseRoute]:
    """The routes to mount before the /fhir catch-all."""

    async def configuration(request: Request) -> Response:
        return JSONResponse(smart_configuration(fhir_base(platform, request)))

    async def jwks(request: Request) -> Response:
        keys = await run_in_threadpool(platform.key_ring().jwks)
        return JSONResponse(keys, headers={"cache-control": "max-age=60"})

    async def token(request: Request) -> Response:
        ctx = platform.context(fhir_base(platform, request))
        try:
            form = await _form(request)
            body = await run_in_threadpool(issue_token, platform, ctx, form, fetch_jwks)
        except OAuthError as error:
            if not ctx.audit:  # refused before the grant logic ran (a malformed request)
                ctx.audit.append(AuditRecord("E", "token", error.status, detail=error.error))
            await run_in_threadpool(emit, platform, ctx)
            headers = dict(_NO_STORE)
            if error.status == 401:
                headers["www-authenticate"] = 'Bearer realm="tsunagu"'
            return JSONResponse(error.body(), error.status, headers=headers)
        await run_in_threadpool(emit, platform, ctx)
        return JSONResponse(body, headers=_NO_STORE)

    async def authorize(request: Request) -> Response:
        base = fhir_base(platform, request)
        if request.method == "GET":
            params = dict(request.query_params)
        else:
            try:
                params = await _form(request)
            except OAuthError as error:
                return login_page.error(error.description, 400)
        try:
            launch = await run_in_threadpool(_launch_request, platform, params, base)
        except _Unredirectable as error:
            return login_page.error(error.message, 400)
        except OAuthError as error:
            return _redirect_error(params, error)
        if request.method == "GET":
            return login_page.form(launch.hidden_fields())
        return await run_in_threadpool(_sign_in, platform, base, launch, params)

    return [
        Route("/fhir/.well-known/smart-configuration", configuration, methods=["GET"]),
        Route("/auth/jwks", jwks, methods=["GET"]),
        Route("/auth/token", token, methods=["POST"]),
        Route("/auth/authorize", authorize, methods=["GET", "POST"]),
    ]


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """A client's JWK Set from its registered URL (https only, 5 s, 64 KiB)."""
    if not url.startswith("https://"):
        raise ValueError("JWKS URL must be https")
    with urllib.request.urlopen(url, timeout=5) as response:  # https enforced above
        data = json.loads(response.read(_MAX_FORM_BYTES))
    if not isinstance(data, dict):
        raise ValueError("JWKS must be an object")
    return data


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request",
            "application/x-www-form-urlencoded で送信してください / "
            "send the request as application/x-www-form-urlencoded",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "要求が大きすぎます / request too large")
    raw = await request.body()
    if len(raw) > _MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "要求が大きすぎます / request too large")
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


# --- authorization endpoint --------------------------------------------------------------


@dataclass(frozen=True)
class _Unredirectable(Exception):
    """An authorize request whose client or redirect URI cannot be trusted (no redirect)."""

    message: str


@dataclass(frozen=True)
class _Launch:
    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str
    aud: str

    def hidden_fields(self) -> dict[str, str]:
        return {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": self.state,
            "aud": self.aud,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }


def _launch_request(platform: Platform, params: Mapping[str, str], base: str) -> _Launch:
    """Validate an authorize request (RFC 6749 4.1.2.1: client and redirect URI first)."""
    client_id = params.get("client_id", "")
    client = platform.key_ring().store.client(client_id) if client_id else None
    if client is None:
        raise _Unredirectable("クライアントが不明です / unknown client_id")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise _Unredirectable(
            "redirect_uri が登録されたものと一致しません / redirect_uri does not match a "
            "registered redirect URI"
        )
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "response_type は code です / use code")
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        raise OAuthError(
            "invalid_request",
            "PKCE (code_challenge, code_challenge_method=S256) が必要です / "
            "PKCE with code_challenge_method=S256 is required",
        )
    if params.get("aud", "").rstrip("/") != base:
        raise OAuthError(
            "invalid_request", "aud はこのサーバの FHIR ベースURLです / aud must be this FHIR base"
        )
    scopes = tuple(params.get("scope", "").split())
    # A patient signs in: the token speaks for the patient only, never for a user or system.
    foreign = [scope for scope in scopes if scope.startswith(("user/", "system/"))]
    if not scopes or foreign or excess_scopes(client.scopes, scopes):
        raise OAuthError(
            "invalid_scope",
            "要求スコープがクライアントの許可範囲を超えています / requested scope exceeds "
            "what the client may have",
        )
    return _Launch(
        client, redirect_uri, scopes, params.get("state", ""), params["code_challenge"], base
    )


def _sign_in(platform: Platform, base: str, launch: _Launch, form: Mapping[str, str]) -> Response:
    """Check the patient's credential; redirect with a code, or show the form again."""
    patient_id = form.get("patient_id", "").strip()
    secret = form.get("secret", "")
    stored = platform.key_ring().store.patient_secret(patient_id) if patient_id else None
    ctx = platform.context(base)
    # Hash even for an unknown patient, so timing does not reveal which ids have credentials.
    valid = check_secret(secret, stored or _DUMMY_HASH) and stored is not None
    if not valid:
        ctx.audit.append(AuditRecord("E", "authorize", 401, detail="patient sign-in failed"))
        emit(platform, ctx)
        return login_page.form(
            launch.hidden_fields(),
            error="患者IDまたは秘密情報が正しくありません / wrong patient id or secret",
            status=401,
        )
    code = new_code(
        platform,
        AuthorizationCode(
            client_id=launch.client.client_id,
            redirect_uri=launch.redirect_uri,
            patient_id=patient_id,
            scopes=launch.scopes,
            code_challenge=launch.code_challenge,
            expires=datetime.now(UTC) + CODE_LIFETIME,
        ),
    )
    ctx.principal = Principal(patient_id, Role.PATIENT, launch.client.client_id, patient=patient_id)
    ctx.audit.append(
        AuditRecord("E", "authorize", 302, patients=(patient_id,), detail="code issued")
    )
    emit(platform, ctx)
    query = {"code": code, "state": launch.state} if launch.state else {"code": code}
    return RedirectResponse(_with_query(launch.redirect_uri, query), 302, headers=_NO_STORE)


def _redirect_error(params: Mapping[str, str], error: OAuthError) -> Response:
    query = {"error": error.error, "error_description": error.description}
    if params.get("state"):
        query["state"] = params["state"]
    return RedirectResponse(_with_query(params["redirect_uri"], query), 302, headers=_NO_STORE)


def _with_query(uri: str, query: Mapping[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}"


# A valid scrypt hash of a random secret, compared against when the patient id is unknown.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


__all__ = ["fhir_base", "oauth_routes", "smart_configuration", "token_endpoint"]
