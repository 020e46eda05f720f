"""Storage: the narrow repository port and its SQL adapters (SQLite, PostgreSQL)."""
