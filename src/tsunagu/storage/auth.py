"""The auth storage port: signing keys, clients, patient credentials, replay and code records.

One implementation (`sql.auth_store.SqlAuthStore`) on both dialects.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tsunagu.security.clients import Client
from tsunagu.security.tokens import SigningKey, generate_signing_key


@dataclass(frozen=True)
class AuthorizationCode:
    """What an authorization code stands for until it is redeemed (once)."""

    client_id: str
    redirect_uri: str
    patient_id: str
    scopes: tuple[str, ...]
    code_challenge: str
    expires: datetime


class AuthStore(Protocol):
    """Persistence of everything the authorisation server must remember."""

    # --- signing keys ---
    def signing_keys(self) -> list[SigningKey]:
        """Every key, retired ones included, newest first."""
        ...

    def add_signing_key(self, key: SigningKey) -> None: ...

    def retire_signing_key(self, kid: str, when: datetime) -> bool:
        """Retire a key (it no longer verifies); False if there is no such unretired key."""
        ...

    def ensure_signing_key(self, make: SigningKeyFactory) -> SigningKey:
        """The current signing key, creating one with `make()` when there is none."""
        ...

    # --- clients ---
    def client(self, client_id: str) -> Client | None: ...

    def clients(self) -> list[Client]: ...

    def add_client(self, client: Client, when: datetime) -> bool:
        """Register a client; False if the client_id is taken."""
        ...

    def remove_client(self, client_id: str) -> bool: ...

    # --- patient credentials ---
    def set_patient_secret(self, patient_id: str, secret_hash: str, when: datetime) -> None:
        """Issue (or replace) the credential of a patient."""
        ...

    def patient_secret(self, patient_id: str) -> str | None: ...

    # --- one-time records ---
    def remember_assertion(
        self, client_id: str, jti: str, expires: datetime, now: datetime
    ) -> bool:
        """Record a client assertion's jti; False if it was already used (a replay)."""
        ...

    def add_code(self, code_hash: str, code: AuthorizationCode, now: datetime) -> None:
        """Store a new code (and forget the codes expired before `now`)."""
        ...

    def take_code(self, code_hash: str) -> AuthorizationCode | None:
        """Redeem a code: return and delete it (None if unknown or already used)."""
        ...


class SigningKeyFactory(Protocol):
    def __call__(self) -> SigningKey: ...


class KeyRing:
    """The server's signing keys as one process sees them, re-read from the store at most
    every `ttl` seconds (and at once for an unknown `kid`), so that a key rotated or retired
    by `tsunagu keys` reaches every worker within `ttl`."""

    def __init__(self, store: AuthStore, *, ttl: float = 30.0) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._loaded = -math.inf
        self._signing: SigningKey | None = None
        self._public: dict[str, dict[str, Any]] = {}

    def signing_key(self) -> SigningKey:
        """The newest unretired key (one is created when the store has none)."""
        self._refresh_if_stale()
        if self._signing is None:
            self.store.ensure_signing_key(lambda: generate_signing_key(datetime.now(UTC)))
            self.refresh()
        assert self._signing is not None
        return self._signing

    def verification_keys(self, kid: str | None = None) -> dict[str, dict[str, Any]]:
        """kid -> public JWK of every unretired key (re-read when `kid` is not among them)."""
        self._refresh_if_stale()
        if kid is not None and kid not in self._public:
            self._refresh_if_stale(min_age=1.0)
        return self._public

    def jwks(self) -> dict[str, Any]:
        """The JWK Set published at /auth/jwks: public halves of unretired keys."""
        self.signing_key()  # a fresh server publishes the key it is about to sign with
        return {"keys": list(self.verification_keys().values())}

    def refresh(self) -> None:
        keys = [key for key in self.store.signing_keys() if key.retired is None]
        with self._lock:
            self._signing = keys[0] if keys else None
            self._public = {key.kid: key.public_jwk() for key in keys}
            self._loaded = time.monotonic()

    def _refresh_if_stale(self, min_age: float | None = None) -> None:
        age = time.monotonic() - self._loaded
        if age >= (self.ttl if min_age is None else min_age):
            self.refresh()
