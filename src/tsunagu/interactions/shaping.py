"""`_summary` and `_elements` on anything the server returns (read, search, history)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tsunagu.fhir.definitions import Definitions
from tsunagu.fhir.elements import select_elements, summarize
from tsunagu.fhir.jsonio import StoredObject
from tsunagu.fhir.outcomes import bad_request
from tsunagu.interactions.context import FhirRequest
from tsunagu.storage.repository import StoredResource

SUMMARY_MODES = frozenset({"true", "text", "data", "false"})


def check_shaping(req: FhirRequest, *, allow_count: bool = False) -> None:
    """400 for a `_summary` value the spec does not define."""
    mode = req.param("_summary")
    allowed = SUMMARY_MODES | {"count"} if allow_count else SUMMARY_MODES
    if mode is not None and mode not in allowed:
        raise bad_request(
            f"_summary の値 '{mode}' は不正です ({', '.join(sorted(allowed))}) / "
            f"invalid _summary value '{mode}' (allowed: {', '.join(sorted(allowed))})",
            expression=("_summary",),
        )


Shaper = Callable[[dict[str, Any]], dict[str, Any]]


def shape(resource: dict[str, Any], req: FhirRequest, defs: Definitions) -> dict[str, Any]:
    """The resource as the request asked to see it."""
    return shaper(req, defs)(resource)


def shaper(req: FhirRequest, defs: Definitions) -> Shaper:
    """What `shape` does for this request, decided once for all the resources of a Bundle."""
    mode = req.param("_summary")
    if mode is not None and mode in SUMMARY_MODES and mode != "false":
        return lambda resource: summarize(resource, mode, defs)
    elements = req.param("_elements")
    if elements:
        names = [name.strip() for name in elements.split(",") if name.strip()]
        return lambda resource: select_elements(resource, names, defs)
    return as_stored


def as_stored(resource: dict[str, Any]) -> dict[str, Any]:
    return resource


def shown(shaped: Shaper, stored: StoredResource) -> Mapping[str, Any]:
    """A stored version (not a tombstone) as a Bundle entry shows it: asked for whole, its
    stored text, which the response writes without parsing it (`jsonio.StoredObject`)."""
    text = stored.text if shaped is as_stored else None
    return StoredObject(text) if text is not None else shaped(stored.content or {})
