"""`_count` and the links of paged Bundles."""

from __future__ import annotations

from urllib.parse import urlencode

from tsunagu.interactions.context import FhirRequest
from tsunagu.search.query import parse_count

CURSOR = "_cursor"


def page_size(req: FhirRequest) -> int:
    """`_count` as an int in 0..MAX_COUNT (larger values are capped); 400 if not a number."""
    return parse_count(req.param("_count"))


def page_url(base: str, req: FhirRequest, **replace: str) -> str:
    """The request's own URL with some parameters replaced (for self/next links)."""
    kept = [(k, v) for k, v in req.query if k not in replace]
    kept.extend(replace.items())
    query = urlencode(kept)
    # A POST to `_search` carried its parameters in the body: the link is the GET form.
    path = req.path.removesuffix("_search").rstrip("/")
    return f"{base}/{path}" + (f"?{query}" if query else "")
