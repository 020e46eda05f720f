"""Following a search's pages through the storage layer, as the server's links do."""

from __future__ import annotations

from tsunagu.search.plan import Cursor
from tsunagu.search.query import SearchQuery
from tsunagu.storage.sql.repository import SqlRepository


def follow(repo: SqlRepository, query: SearchQuery, cursor: Cursor | None) -> list[list[str]]:
    """Every page's ids in fetch order, from `cursor` on, each next cursor made from the
    page's last match as `next` (or, from a backwards cursor, `previous`) links are."""
    pages: list[list[str]] = []
    backwards = cursor is not None and cursor.backwards
    while True:
        matches = repo.search(query, cursor)
        page = matches[: query.count]
        pages.append([m.resource.id for m in page])
        if len(matches) <= query.count:
            return pages
        cursor = Cursor(page[-1].sort_values, page[-1].key, backwards)
