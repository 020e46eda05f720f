"""SqlAuthStore: the auth storage port on either dialect (tables in `schema_auth`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tsunagu.security.clients import Client
from tsunagu.security.principal import Role
from tsunagu.security.tokens import SigningKey
from tsunagu.storage.auth import AuthorizationCode, SigningKeyFactory
from tsunagu.storage.sql.dialect import Dialect

_CLIENT_COLUMNS = "client_id, role, facility, scopes, jwks, jwks_url, redirect_uris, name"


class SqlAuthStore:
    """Signing keys, clients, patient credentials and one-time records in SQL."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    # --- signing keys -------------------------------------------------------------------

    def signing_keys(self) -> list[SigningKey]:
        sql = (
            "SELECT kid, algorithm, private_jwk, created, retired FROM auth_signing_keys "
            "ORDER BY created DESC, kid"
        )
        with self.dialect.reader() as conn:
            rows = conn.execute(sql).fetchall()
        return [self._key(row) for row in rows]

    def add_signing_key(self, key: SigningKey) -> None:
        with self.dialect.writer() as conn:
            self._insert_key(conn, key)

    def retire_signing_key(self, kid: str, when: datetime) -> bool:
        sql = self.dialect.sql(
            "UPDATE auth_signing_keys SET retired = ? WHERE kid = ? AND retired IS NULL"
        )
        with self.dialect.writer() as conn:
            return conn.execute(sql, (self.dialect.encode_time(when), kid)).rowcount > 0

    def ensure_signing_key(self, make: SigningKeyFactory) -> SigningKey:
        with self.dialect.writer() as conn:
            self.dialect.lock(conn, "tsunagu:signing-key")
            row = conn.execute(
                "SELECT kid, algorithm, private_jwk, created, retired FROM auth_signing_keys "
                "WHERE retired IS NULL ORDER BY created DESC, kid LIMIT 1"
            ).fetchone()
            if row is not None:
                return self._key(row)
            key = make()
            self._insert_key(conn, key)
            return key

    def _insert_key(self, conn: Any, key: SigningKey) -> None:
        conn.execute(
            self.dialect.sql(
                "INSERT INTO auth_signing_keys (kid, algorithm, private_jwk, created, retired) "
                "VALUES (?, ?, ?, ?, ?)"
            ),
            (
                key.kid,
                key.algorithm,
                self.dialect.encode_json(key.private_jwk),
                self.dialect.encode_time(key.created),
                None if key.retired is None else self.dialect.encode_time(key.retired),
            ),
        )

    def _key(self, row: Any) -> SigningKey:
        return SigningKey(
            kid=row[0],
            algorithm=row[1],
            private_jwk=self.dialect.decode_json(row[2]),
            created=self.dialect.decode_time(row[3]),
            retired=None if row[4] is None else self.dialect.decode_time(row[4]),
        )

    # --- clients ------------------------------------------------------------------------

    def client(self, client_id: str) -> Client | None:
        sql = self.dialect.sql(f"SELECT {_CLIENT_COLUMNS} FROM auth_clients WHERE client_id = ?")
        with self.dialect.reader() as conn:
            row = conn.execute(sql, (client_id,)).fetchone()
        return None if row is None else self._client(row)

    def clients(self) -> list[Client]:
        sql = f"SELECT {_CLIENT_COLUMNS} FROM auth_clients ORDER BY client_id"
        with self.dialect.reader() as conn:
            rows = conn.execute(sql).fetchall()
        return [self._client(row) for row in rows]

    def add_client(self, client: Client, when: datetime) -> bool:
        sql = self.dialect.sql(
            f"INSERT INTO auth_clients ({_CLIENT_COLUMNS}, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        values = (
            client.client_id,
            str(client.role),
            client.facility,
            " ".join(client.scopes),
            None if client.jwks is None else self.dialect.encode_json(dict(client.jwks)),
            client.jwks_url,
            " ".join(client.redirect_uris),
            client.name,
            self.dialect.encode_time(when),
        )
        try:
            with self.dialect.writer() as conn:
                conn.execute(sql, values)
        except Exception as error:
            if self.dialect.is_unique_violation(error):
                return False
            raise
        return True

    def remove_client(self, client_id: str) -> bool:
        sql = self.dialect.sql("DELETE FROM auth_clients WHERE client_id = ?")
        with self.dialect.writer() as conn:
            return conn.execute(sql, (client_id,)).rowcount > 0

    def _client(self, row: Any) -> Client:
        return Client(
            client_id=row[0],
            role=Role(row[1]),
            facility=row[2],
            scopes=tuple(row[3].split()),
            jwks=None if row[4] is None else self.dialect.decode_json(row[4]),
            jwks_url=row[5],
            redirect_uris=tuple(row[6].split()),
            name=row[7],
        )

    # --- patient credentials ------------------------------------------------------------

    def set_patient_secret(self, patient_id: str, secret_hash: str, when: datetime) -> None:
        with self.dialect.writer() as conn:
            conn.execute(
                self.dialect.sql("DELETE FROM auth_patient_credentials WHERE patient_id = ?"),
                (patient_id,),
            )
            conn.execute(
                self.dialect.sql(
                    "INSERT INTO auth_patient_credentials (patient_id, secret_hash, created) "
                    "VALUES (?, ?, ?)"
                ),
                (patient_id, secret_hash, self.dialect.encode_time(when)),
            )

    def patient_secret(self, patient_id: str) -> str | None:
        sql = self.dialect.sql(
            "SELECT secret_hash FROM auth_patient_credentials WHERE patient_id = ?"
        )
        with self.dialect.reader() as conn:
            row = conn.execute(sql, (patient_id,)).fetchone()
        return None if row is None else str(row[0])

    # --- one-time records ---------------------------------------------------------------

    def remember_assertion(
        self, client_id: str, jti: str, expires: datetime, now: datetime
    ) -> bool:
        encode = self.dialect.encode_time
        try:
            with self.dialect.writer() as conn:
                conn.execute(
                    self.dialect.sql("DELETE FROM auth_assertions WHERE expires < ?"),
                    (encode(now),),
                )
                conn.execute(
                    self.dialect.sql(
                        "INSERT INTO auth_assertions (client_id, jti, expires) VALUES (?, ?, ?)"
                    ),
                    (client_id, jti, encode(expires)),
                )
        except Exception as error:
            if self.dialect.is_unique_violation(error):
                return False
            raise
        return True

    def add_code(self, code_hash: str, code: AuthorizationCode, now: datetime) -> None:
        encode = self.dialect.encode_time
        with self.dialect.writer() as conn:
            conn.execute(
                self.dialect.sql("DELETE FROM auth_codes WHERE expires < ?"), (encode(now),)
            )
            conn.execute(
                self.dialect.sql(
                    "INSERT INTO auth_codes (code_hash, client_id, redirect_uri, patient_id, "
                    "scopes, code_challenge, expires) VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    code_hash,
                    code.client_id,
                    code.redirect_uri,
                    code.patient_id,
                    " ".join(code.scopes),
                    code.code_challenge,
                    encode(code.expires),
                ),
            )

    def take_code(self, code_hash: str) -> AuthorizationCode | None:
        select = self.dialect.sql(
            "SELECT client_id, redirect_uri, patient_id, scopes, code_challenge, expires "
            "FROM auth_codes WHERE code_hash = ?"
        )
        delete = self.dialect.sql("DELETE FROM auth_codes WHERE code_hash = ?")
        with self.dialect.writer() as conn:
            row = conn.execute(select, (code_hash,)).fetchone()
            if row is None or conn.execute(delete, (code_hash,)).rowcount != 1:
                return None
        return AuthorizationCode(
            client_id=row[0],
            redirect_uri=row[1],
            patient_id=row[2],
            scopes=tuple(row[3].split()),
            code_challenge=row[4],
            expires=self.dialect.decode_time(row[5]),
        )
