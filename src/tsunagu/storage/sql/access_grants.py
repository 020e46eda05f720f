"""The access tables in SQL: `resource_access` rows and `access_grants` (see schema_access).

Both are written in the transaction of the versions they derive from, so a withdrawn
consent or a new owner tag takes effect with the commit that records it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tsunagu.security.consent import grants_of
from tsunagu.storage.access import AccessGrant
from tsunagu.storage.sql.dialect import Connection, Dialect, Statement, insert_rows

_GRANT_COLUMNS = (
    "source",
    "source_key",
    "patient",
    "facility",
    "subject",
    "category",
    "valid_from",
    "valid_to",
    "reason",
    "created_at",
)
CONSENT = "consent"
BREAK_GLASS = "break-glass"
# A `resource_access` row: (res_key, resource_type, access_class, facility, patient).
AccessRow = tuple[int, str, str, str | None, str | None]
_ACCESS_COLUMNS = ("res_key", "resource_type", "access_class", "facility", "patient")


def access_statements(d: Dialect, conn: Connection, rows: Sequence[AccessRow]) -> list[Statement]:
    """Statements that write these access rows, each replacing its resource's previous one."""
    if not rows:
        return []
    return d.insert_statements(
        conn, "resource_access", _ACCESS_COLUMNS, rows, replace_key="res_key"
    )


def rewrite_consent_grants(
    d: Dialect, conn: Connection, res_key: int, consent: dict[str, Any] | None
) -> None:
    """The grants of a Consent's new version replace those of its previous one."""
    conn.execute(
        d.sql("DELETE FROM access_grants WHERE source = ? AND source_key = ?"), (CONSENT, res_key)
    )
    if consent is None:
        return
    grants = [
        AccessGrant(CONSENT, g.patient, g.facility, g.category.value, g.start, g.end)
        for g in grants_of(consent)
    ]
    add_grants(d, conn, grants, source_key=res_key)


def add_grants(
    d: Dialect, conn: Connection, grants: Sequence[AccessGrant], *, source_key: int | None = None
) -> None:
    now = d.encode_time(datetime.now(UTC))
    rows = [
        (
            g.source,
            source_key if source_key is not None else g.source_key,
            g.patient,
            g.facility,
            g.subject,
            g.category,
            d.encode_time(g.start),
            None if g.end is None else d.encode_time(g.end),
            g.reason,
            now,
        )
        for g in grants
    ]
    if rows:
        insert_rows(d, conn, "access_grants", _GRANT_COLUMNS, rows)


def has_grant(
    d: Dialect,
    conn: Connection,
    *,
    facility: str,
    subject: str,
    patient: str,
    category: str | None,
    at: datetime,
) -> bool:
    """Whether a grant valid at `at` lets the facility (or this subject there) see the
    category (any category when None) of the patient."""
    sql = (
        "SELECT 1 FROM access_grants g WHERE g.facility = ? AND g.patient = ?"
        " AND g.valid_from <= ? AND (g.valid_to IS NULL OR g.valid_to > ?)"
        " AND (g.subject IS NULL OR g.subject = ?)"
    )
    when = d.encode_time(at)
    params: list[Any] = [facility, patient, when, when, subject]
    if category is not None:
        sql += " AND g.category = ?"
        params.append(category)
    return conn.execute(d.sql(sql + " LIMIT 1"), params).fetchone() is not None
