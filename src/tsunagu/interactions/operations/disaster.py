"""Disaster mode (災害時モード): declarations and the access they open. (Stub: issue 6.)"""

from __future__ import annotations

from datetime import datetime

from tsunagu.interactions.context import Context
from tsunagu.security.categories import Category


def disaster_categories(ctx: Context, facility: str, at: datetime) -> frozenset[Category]:
    """The information categories `facility` may read without consent at `at`, because a
    declared disaster covers the facility's area (empty when none does)."""
    return frozenset()
