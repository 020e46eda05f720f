"""`_count` and the links of paged Bundles."""

from __future__ import annotations

from urllib.parse import urlencode

from tsunagu.fhir.outcomes import bad_request
from tsunagu.interactions.context import FhirRequest

DEFAULT_COUNT = 50
MAX_COUNT = 1000
CURSOR = "_cursor"


def page_size(req: FhirRequest) -> int:
    """`_count` as an int in 0..MAX_COUNT (larger values are capped); 400 if not a number."""
    raw = req.param("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit():
        raise bad_request(
            f"_count の値 '{raw[:40]}' は 0 以上の整数ではありません / "
            f"_count must be a non-negative integer, got '{raw[:40]}'",
            expression=("_count",),
        )
    return min(int(raw), MAX_COUNT)


def page_url(base: str, req: FhirRequest, **replace: str) -> str:
    """The request's own URL with some parameters replaced (for self/next links)."""
    kept = [(k, v) for k, v in req.query if k not in replace]
    kept.extend(replace.items())
    query = urlencode(kept)
    # A POST to `_search` carried its parameters in the body: the link is the GET form.
    path = req.path.removesuffix("_search").rstrip("/")
    return f"{base}/{path}" + (f"?{query}" if query else "")
