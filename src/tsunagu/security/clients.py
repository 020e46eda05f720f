"""Who may ask for tokens: registered clients, facility codes, patient credentials, PKCE.

Pure models and checks; the tables are in `storage.sql.auth_store`.

Facility codes: a 医療機関コード is 10 digits — 都道府県番号 (2, 01-47), 点数表 (1: 1 医科,
3 歯科, 4 調剤 — a 薬局コード is the same shape with 4), 郡市区番号 (2), 番号 (4) and a check
digit over the 6 digits of 郡市区番号 + 番号 (modulus 10, weights 2-1 from the right, digits of
each product summed: the Luhn scheme).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from tsunagu.security.principal import Role

FEE_TABLES = {"1": "医科", "3": "歯科", "4": "調剤"}
_FACILITY = re.compile(r"[0-9]{10}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# SMART v2 resource scopes (v1 `.read`/`.write`/`.*` accepted): context/Type.perms
_RESOURCE_SCOPE = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|[cruds]+)")
_V1_PERMISSIONS = {"*": "cruds", "read": "rs", "write": "cud"}
# The scrypt cost for patient secrets: 16 MiB, ~50 ms.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class RegistrationError(ValueError):
    """A client registration or credential that is not acceptable (message: ja / en)."""


def check_digit(six_digits: str) -> str:
    """The check digit of 郡市区番号 + 番号 (6 digits)."""
    total = 0
    for position, char in enumerate(reversed(six_digits)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def facility_code(prefecture: int, fee_table: str, area: str, number: str) -> str:
    """Build a valid 10-digit facility code (for fixtures and demo data)."""
    body = f"{area:0>2}{number:0>4}"
    return f"{prefecture:02d}{fee_table}{body}{check_digit(body)}"


def facility_problem(code: str) -> str | None:
    """Why `code` is not a 医療機関コード / 薬局コード, or None when it is one."""
    if not _FACILITY.fullmatch(code):
        return "医療機関コードは10桁の数字です / a facility code is 10 digits"
    if not 1 <= int(code[:2]) <= 47:
        return "都道府県番号は01から47です / prefecture number must be 01-47"
    if code[2] not in FEE_TABLES:
        return (
            "点数表番号は 1 (医科), 3 (歯科), 4 (調剤) のいずれかです / "
            "fee table must be 1 (medical), 3 (dental) or 4 (pharmacy)"
        )
    if check_digit(code[3:9]) != code[9]:
        return "医療機関コードの検証番号が一致しません / facility code check digit mismatch"
    return None


def is_pharmacy(code: str) -> bool:
    return len(code) == 10 and code[2] == "4"


# --- scopes -------------------------------------------------------------------------------


def _permissions(text: str) -> frozenset[str]:
    return frozenset(_V1_PERMISSIONS.get(text, text))


def scope_covers(allowed: str, requested: str) -> bool:
    """Whether the allowed scope `allowed` grants everything `requested` asks for."""
    if allowed == requested:
        return True
    granted, wanted = _RESOURCE_SCOPE.fullmatch(allowed), _RESOURCE_SCOPE.fullmatch(requested)
    if granted is None or wanted is None:
        return False
    if granted.group(1) != wanted.group(1):
        return False
    if granted.group(2) not in ("*", wanted.group(2)):
        return False
    return _permissions(wanted.group(3)) <= _permissions(granted.group(3))


def excess_scopes(allowed: Iterable[str], requested: Iterable[str]) -> list[str]:
    """The requested scopes that no allowed scope covers (empty: the request is acceptable)."""
    allowed = list(allowed)
    return [scope for scope in requested if not any(scope_covers(a, scope) for a in allowed)]


def is_scope(text: str) -> bool:
    """A syntactically acceptable scope: a resource scope or a simple token (launch/patient)."""
    return bool(_RESOURCE_SCOPE.fullmatch(text) or re.fullmatch(r"[a-z][a-zA-Z/_-]*", text))


# --- clients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """A registered OAuth2 client: a facility system (Backend Services, with its public keys)
    or an app (App Launch, with redirect URIs). `role` is the profession its tokens carry."""

    client_id: str
    role: Role
    facility: str | None
    scopes: tuple[str, ...]
    jwks: dict[str, object] | None = None
    jwks_url: str | None = None
    redirect_uris: tuple[str, ...] = ()
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def validate_client(client: Client) -> Client:
    """The client if its registration is consistent, else RegistrationError."""
    if not _CLIENT_ID.fullmatch(client.client_id):
        raise RegistrationError(
            "client_id は英数字と . _ : - で128文字以内です / "
            "client_id: letters, digits, . _ : - (at most 128)"
        )
    if client.facility is not None:
        problem = facility_problem(client.facility)
        if problem:
            raise RegistrationError(problem)
    elif client.role not in (Role.PATIENT, Role.MUNICIPAL, Role.RESEARCHER):
        raise RegistrationError(
            "この職種のクライアントには医療機関コードが必要です / "
            "a facility code is required for this role"
        )
    pharmacy_roles = (Role.PHARMACIST, Role.SYSTEM, Role.ADMINISTRATOR)
    if client.facility and is_pharmacy(client.facility) and client.role not in pharmacy_roles:
        raise RegistrationError(
            "薬局コードのクライアントは薬剤師・システム・管理者のみです / "
            "a pharmacy code goes with a pharmacist, system or administrator client"
        )
    if not client.scopes:
        raise RegistrationError("許可スコープが必要です / at least one allowed scope is required")
    bad = [scope for scope in client.scopes if not is_scope(scope)]
    if bad:
        raise RegistrationError(f"スコープが不正です / invalid scope: {bad[0]:.60}")
    if client.jwks is None and client.jwks_url is None and not client.redirect_uris:
        raise RegistrationError(
            "公開鍵 (JWKS) かリダイレクトURIが必要です / "
            "a JWKS (backend services) or a redirect URI (app launch) is required"
        )
    if client.jwks is not None:
        keys = client.jwks.get("keys")
        if not isinstance(keys, list) or not keys:
            raise RegistrationError("JWKS に鍵がありません / the JWKS has no keys")
        if any(isinstance(key, dict) and ("d" in key or "p" in key) for key in keys):
            raise RegistrationError(
                "JWKS に秘密鍵が含まれています / the JWKS must hold public keys only"
            )
        if not all(isinstance(key, dict) and key.get("kid") for key in keys):
            raise RegistrationError("JWKS の鍵には kid が必要です / every JWKS key needs a kid")
    for uri in client.redirect_uris:
        if not re.fullmatch(r"https?://[^\s#]+", uri):
            raise RegistrationError(
                "リダイレクトURIは http(s) の絶対URIです / redirect URI must be an absolute "
                "http(s) URI without a fragment"
            )
    return client


# --- patient credentials and PKCE --------------------------------------------------------


def new_secret() -> str:
    """A fresh patient secret (shown once to the patient)."""
    return secrets.token_urlsafe(18)


def hash_secret(secret: str) -> str:
    """`scrypt$n$r$p$salt$hash` (salt and hash base64url)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_secret(secret: str, stored: str) -> bool:
    """Whether `secret` matches a `hash_secret` value (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            secret.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(digest)),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, _unb64(digest))


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def pkce_matches(verifier: str, challenge: str) -> bool:
    """Whether `verifier` is well formed (RFC 7636) and hashes to `challenge`."""
    if not _PKCE_VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(pkce_challenge(verifier), challenge)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
