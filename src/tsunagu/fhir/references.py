"""Walk and rewrite the references inside a resource (for transactions).

In a transaction, entries refer to each other by temporary `urn:uuid:` fullUrls and to
existing resources by search criteria (`Patient?identifier=...`). The server replaces both
with real `Type/id` references before storing.
See: https://hl7.org/fhir/R4/http.html#trules
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any


def rewrite(node: Any, replace: Callable[[str, str], str | None]) -> Any:
    """A copy of `node` where each string value `v` under key `k` becomes `replace(k, v)`.

    `replace` returns None to keep the value. Narrative `div` is handed over whole too, so a
    caller can rewrite links inside the XHTML.
    """
    if isinstance(node, dict):
        result: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(value, str):
                new = replace(key, value)
                result[key] = value if new is None else new
            else:
                result[key] = rewrite(value, replace)
        return result
    if isinstance(node, list):
        return [
            (replace("", item) or item) if isinstance(item, str) else rewrite(item, replace)
            for item in node
        ]
    return node


_LINK = re.compile(r'((?:href|src)=")([^"]*)(")')


def placeholder_replacer(
    placeholders: Mapping[str, str], locators: Mapping[str, str] | None = None
) -> Callable[[str, str], str | None]:
    """A `rewrite` callback that gives Bundle-internal references their real `Type/id`.

    `placeholders` (fullUrls of entries whose location the server decides: `urn:uuid:` ones,
    and those of created entries) are replaced wherever they stand as a whole value
    (references, uri elements, attachment URLs) and in narrative links. `locators` (the
    relative `Type/oldId` form of created entries' fullUrls) are replaced in `reference` only.
    """

    located = locators or {}

    def replace(key: str, value: str) -> str | None:
        if value in placeholders:
            return placeholders[value]
        if key == "reference" and value in located:
            return located[value]
        if key == "div" and ("href" in value or "src" in value):
            return _LINK.sub(lambda m: m[1] + placeholders.get(m[2], m[2]) + m[3], value)
        return None

    return replace


def relative_to(base_url: str) -> Callable[[str, str], str | None]:
    """A `rewrite` callback making references to this server's own base relative.

    `http://host/fhir/Patient/1` and `Patient/1` then mean, index and search the same; absolute
    references to other servers stay as they are.
    """
    prefix = base_url.rstrip("/") + "/"

    def replace(key: str, value: str) -> str | None:
        if key == "reference" and value.startswith(prefix):
            return value[len(prefix) :]
        return None

    return replace


def is_conditional_reference(value: str) -> bool:
    """`Patient?identifier=...`: a reference given as search criteria."""
    head, sep, _ = value.partition("?")
    return bool(sep) and "/" not in head and head[:1].isupper()
