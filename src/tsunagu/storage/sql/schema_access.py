"""Schema of the access tables (migration statements; see migrations.py for the placeholders).

- `resource_access`: one row per resource (its current version): the access class, owner
  facility and patient that search filters test inside their SQL (see search.plan).
- `access_grants`: who may see which category of which patient, and when: rows derived from
  active Consents (rewritten with every Consent version) and break-glass declarations.
"""

from __future__ import annotations

STATEMENTS: list[str] = [
    """CREATE TABLE resource_access (
        res_key BIGINT PRIMARY KEY,
        resource_type {text} NOT NULL,
        access_class {text} NOT NULL,
        facility {text},
        patient {text}
    )""",
    """CREATE TABLE access_grants (
        grant_key {seq} PRIMARY KEY,
        source {text} NOT NULL,
        source_key BIGINT,
        patient {text} NOT NULL,
        facility {text} NOT NULL,
        subject {text},
        category {text} NOT NULL,
        valid_from {ts} NOT NULL,
        valid_to {ts},
        reason TEXT,
        created_at {ts} NOT NULL
    )""",
    "CREATE INDEX access_grants_lookup ON access_grants (facility, patient, category)",
    "CREATE INDEX access_grants_source ON access_grants (source, source_key)",
]
