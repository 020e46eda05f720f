"""Schema of the auth tables (migration statements; see migrations.py for the placeholders).

- `auth_signing_keys`: the server's signing keys (private JWKs); the newest unretired key
  signs, every unretired key verifies.
- `auth_clients`: registered OAuth2 clients (facility, role, allowed scopes, keys, redirects).
- `auth_patient_credentials`: the patient secrets the server issued, scrypt-hashed.
- `auth_assertions`: the `jti` of each client assertion until it expires (replay refusal).
- `auth_codes`: authorization codes (stored as their SHA-256), single use, short-lived.
"""

from __future__ import annotations

STATEMENTS: list[str] = [
    """CREATE TABLE auth_signing_keys (
        kid {text} PRIMARY KEY,
        algorithm TEXT NOT NULL,
        private_jwk {json} NOT NULL,
        created {ts} NOT NULL,
        retired {ts}
    )""",
    """CREATE TABLE auth_clients (
        client_id {text} PRIMARY KEY,
        role TEXT NOT NULL,
        facility TEXT,
        scopes TEXT NOT NULL,
        jwks {json},
        jwks_url TEXT,
        redirect_uris TEXT NOT NULL,
        name TEXT NOT NULL,
        created {ts} NOT NULL
    )""",
    """CREATE TABLE auth_patient_credentials (
        patient_id {text} PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        created {ts} NOT NULL
    )""",
    """CREATE TABLE auth_assertions (
        client_id {text} NOT NULL,
        jti {text} NOT NULL,
        expires {ts} NOT NULL,
        PRIMARY KEY (client_id, jti)
    )""",
    "CREATE INDEX auth_assertions_expires ON auth_assertions (expires)",
    """CREATE TABLE auth_codes (
        code_hash {text} PRIMARY KEY,
        client_id {text} NOT NULL,
        redirect_uri TEXT NOT NULL,
        patient_id {text} NOT NULL,
        scopes TEXT NOT NULL,
        code_challenge TEXT NOT NULL,
        expires {ts} NOT NULL
    )""",
]
