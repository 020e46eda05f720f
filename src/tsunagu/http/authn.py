"""Bearer-token authentication of FHIR requests: Authorization header -> Principal, or 401."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime

from tsunagu.bootstrap import Platform
from tsunagu.fhir.outcomes import FhirError
from tsunagu.interactions.context import Context
from tsunagu.security.audit import AuditRecord
from tsunagu.security.principal import Principal
from tsunagu.security.tokens import (
    LEEWAY,
    TokenError,
    issuer_for,
    unverified_expiry,
    unverified_header,
    verify_access_token,
)

_REALM = 'Bearer realm="tsunagu"'


def authenticate(platform: Platform, authorization: str | None, base_url: str) -> Principal:
    """The principal of a request's `Authorization: Bearer` token, or a 401 FhirError."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise FhirError.of(
            401,
            "login",
            "認証が必要です (Bearer アクセストークン) / authentication required "
            "(Bearer access token)",
            headers={"www-authenticate": _REALM},
        )
    keys = platform.key_ring()
    now = datetime.now(UTC)
    cached = _VERIFIED.get(token, base_url, now)
    if cached is not None and cached[1] in keys.verification_keys():
        return cached[0]
    try:
        kid = unverified_header(token).get("kid")
        principal = verify_access_token(
            token,
            keys.verification_keys(kid if isinstance(kid, str) else None),
            issuer=issuer_for(base_url),
            audience=base_url,
            now=now,
        )
    except TokenError as error:
        english = str(error).rsplit(" / ", 1)[-1]
        raise FhirError.of(
            401,
            "login",
            f"アクセストークンが無効です: {error}",
            headers={
                "www-authenticate": (
                    f'{_REALM}, error="invalid_token", error_description="{english}"'
                )
            },
        ) from None
    _VERIFIED.put(token, base_url, principal, str(kid), unverified_expiry(token))
    return principal


class _VerifiedTokens:
    """Tokens this process verified, so a client reusing its token (the usual case) pays
    for one signature check, not one per request. An entry is honoured only until the
    token expires (plus the leeway) and while its key is unretired."""

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], tuple[Principal, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, base_url: str, now: datetime) -> tuple[Principal, str] | None:
        with self._lock:
            entry = self._entries.get((token, base_url))
            if entry is None:
                return None
            principal, kid, expires = entry
            if now.timestamp() > expires + LEEWAY.total_seconds():
                del self._entries[(token, base_url)]
                return None
            self._entries.move_to_end((token, base_url))
            return principal, kid

    def put(
        self, token: str, base_url: str, principal: Principal, kid: str, expires: float
    ) -> None:
        with self._lock:
            self._entries[(token, base_url)] = (principal, kid, expires)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_VERIFIED = _VerifiedTokens()


def record_denial(platform: Platform, base_url: str, error: FhirError, path: str) -> None:
    """Hand a refused request (401) to the audit sink, when one is installed."""
    if platform.audit_sink is None:
        return
    ctx = platform.context(base_url)
    ctx.audit.append(
        AuditRecord(
            action="E",
            subtype="authenticate",
            outcome=error.status,
            detail=f"{path.split('/', 1)[0] or '/'}: {str(error).rsplit(' / ', 1)[-1]}",
        )
    )
    emit(platform, ctx)


def emit(platform: Platform, ctx: Context) -> None:
    """Give a context's audit records to the sink (no-op without one)."""
    if platform.audit_sink is not None and ctx.audit:
        platform.audit_sink(ctx)
