"""Schema of the identity tables (migration statements; see migrations.py for the placeholders)."""

from __future__ import annotations

STATEMENTS: list[str] = []
