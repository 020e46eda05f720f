"""Schema of the audit tables (migration statements; see migrations.py for the placeholders).

The AuditEvents themselves are ordinary resources (`resource_history`/`resources`, indexed for
search). `audit_chain` links each of them into the hash chain (`security.audit_chain`):
append-only, one row per event, `seq` without gaps. `audit_chain_head` is a single row naming
the last link; writers lock it (PostgreSQL: `FOR UPDATE`; SQLite: the database's one writer)
so appends are serialised, and verification detects a truncated tail.
"""

from __future__ import annotations

from tsunagu.security.audit_chain import GENESIS

STATEMENTS: list[str] = [
    """CREATE TABLE audit_chain (
        seq BIGINT PRIMARY KEY,
        event_id {text} NOT NULL UNIQUE,
        previous_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        recorded {ts} NOT NULL
    )""",
    """CREATE TABLE audit_chain_head (
        id INTEGER PRIMARY KEY,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
]
