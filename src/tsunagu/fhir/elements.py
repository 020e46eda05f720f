"""Read-time subsetting of resources: `_summary` and `_elements`.

See https://hl7.org/fhir/R4/search.html#summary and #elements. All functions are pure:
they never mutate their input and return fresh JSON that shares nothing with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tsunagu.fhir.definitions import Definitions, SummaryTree

SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
SUBSETTED_CODE = "SUBSETTED"
SUBSETTED_DISPLAY = "Resource encoded in summary mode"

# Kept by every subsetting mode.
ALWAYS_KEPT: frozenset[str] = frozenset({"resourceType", "id", "meta"})

SUMMARY_MODES: frozenset[str] = frozenset({"true", "text", "data", "false"})


def summarize(resource: Mapping[str, Any], mode: str, defs: Definitions) -> dict[str, Any]:
    """Apply `_summary=mode` ("true", "text", "data" or "false") to one resource."""
    resource_type = str(resource.get("resourceType", ""))
    if mode == "false":
        return _clone_object(resource)
    if mode == "true":
        tree = defs.summary.get(resource_type, {})
        kept = _prune(resource, tree, always=ALWAYS_KEPT)
    elif mode == "text":
        names = ALWAYS_KEPT | {"text"} | _mandatory_names(resource_type, defs)
        kept = _keep_top_level(resource, names)
    elif mode == "data":
        kept = {key: _clone(value) for key, value in resource.items() if key != "text"}
    else:
        raise ValueError(f"unsupported _summary mode for a resource: {mode!r}")
    return _tag_subsetted(kept)


def select_elements(
    resource: Mapping[str, Any], elements: Iterable[str], defs: Definitions
) -> dict[str, Any]:
    """Apply `_elements`: keep resourceType, id, meta, mandatory and the listed elements.

    Names are top-level element names (`name`, `Patient.name`, `value` or `value[x]` for
    a choice). A plain string is read as the comma-separated parameter value.
    """
    resource_type = str(resource.get("resourceType", ""))
    if isinstance(elements, str):
        elements = elements.split(",")
    names = set(ALWAYS_KEPT | _mandatory_names(resource_type, defs))
    for raw in elements:
        name = _top_level_name(raw.strip(), resource_type)
        if name:
            names.update(defs.json_names(resource_type, name))
    return _tag_subsetted(_keep_top_level(resource, frozenset(names)))


def mark_subsetted(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with the SUBSETTED tag in meta.tag (added once; meta placed after id)."""
    return _tag_subsetted(_clone_object(resource))


def _tag_subsetted(out: dict[str, Any]) -> dict[str, Any]:
    """Add the SUBSETTED tag to a freshly built resource, in place."""
    meta = out.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    tags = meta.get("tag")
    if not isinstance(tags, list):
        tags = []
    if not any(_is_subsetted(tag) for tag in tags):
        tags.append(
            {"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE, "display": SUBSETTED_DISPLAY}
        )
    meta["tag"] = tags
    if "meta" in out:
        out["meta"] = meta
        return out
    # Conventional order: resourceType, id, meta, then the rest.
    head = {key: out[key] for key in ("resourceType", "id") if key in out}
    return head | {"meta": meta} | out


def _is_subsetted(tag: Any) -> bool:
    return (
        isinstance(tag, Mapping)
        and tag.get("system") == SUBSETTED_SYSTEM
        and tag.get("code") == SUBSETTED_CODE
    )


def _mandatory_names(resource_type: str, defs: Definitions) -> frozenset[str]:
    """JSON names of the top-level mandatory elements (choices expanded)."""
    names: set[str] = set()
    for element in defs.mandatory.get(resource_type, ()):
        names.update(defs.json_names(resource_type, element))
    return frozenset(names)


def _top_level_name(name: str, resource_type: str) -> str | None:
    """`Patient.name.given` -> `name`; None for another type's path or an empty name."""
    head, dot, rest = name.partition(".")
    if dot:
        if head == resource_type:
            head = rest.partition(".")[0]
        elif head[:1].isupper():
            return None
    return head or None


def _element_name(key: str) -> str:
    """Element a JSON key belongs to: `_birthDate` (primitive extensions) -> `birthDate`."""
    return key[1:] if key.startswith("_") else key


def _keep_top_level(resource: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    return {key: _clone(value) for key, value in resource.items() if _element_name(key) in names}


def _prune(
    obj: Mapping[str, Any], tree: SummaryTree, always: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Keep only the properties of `obj` listed in `tree`, recursing into nested trees."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = _element_name(key)
        if name in always:
            out[key] = _clone(value)
            continue
        if name not in tree:
            continue
        child = tree[name]
        if child is None or key.startswith("_"):
            out[key] = _clone(value)
            continue
        pruned = _prune_value(value, child)
        if pruned is not None:
            out[key] = pruned
    return out


def _prune_value(value: Any, tree: SummaryTree) -> Any:
    """Prune a BackboneElement value (object or list); None when nothing is left."""
    if isinstance(value, Mapping):
        pruned = _prune(value, tree)
        return pruned or None
    if isinstance(value, list):
        items = [_prune_value(item, tree) for item in value]
        kept = [item for item in items if item is not None]
        return kept or None
    return _clone(value)


def _clone(value: Any) -> Any:
    """Deep copy of a JSON value."""
    if isinstance(value, Mapping):
        return _clone_object(value)
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def _clone_object(value: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _clone(item) for key, item in value.items()}
