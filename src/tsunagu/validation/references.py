"""References and codes: reference formats and targets, `#id` scanning, codings of a value.

See: https://hl7.org/fhir/R4/references.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tsunagu.fhir.jsonio import dumps
from tsunagu.validation import messages as msg
from tsunagu.validation.model import Node
from tsunagu.validation.primitives import OID, UUID
from tsunagu.validation.registry import CORE_PREFIX, Registry

_RELATIVE = re.compile(
    r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})(/_history/[A-Za-z0-9\-\.]{1,64})?"
)
_ABSOLUTE_TAIL = re.compile(
    r"[a-z][a-z0-9+.\-]*://\S*?/([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})(/_history/\S+)?"
)
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?\S*")
_LOCAL_REFERENCE = re.compile(rb'"#([^"\\]*)"')


def reference_problem(
    reference: str,
    allowed: frozenset[str],
    resource_types: frozenset[str],
    bundle_entries: Mapping[str, dict[str, Any]],
    contained_ids: frozenset[str] | None,
) -> tuple[str, str] | None:
    """(issue code, message) if a `Reference.reference` is malformed, points at a missing
    contained resource, or at a type the element does not allow; else None."""
    found_type: str | None = None
    if reference.startswith("#"):
        local = reference[1:]
        if local and contained_ids is not None and local not in contained_ids:
            return "invariant", msg.contained_not_found()
        return None
    if reference.startswith("urn:uuid:"):
        if UUID.fullmatch(reference) is None:
            return "value", msg.reference_format()
    elif reference.startswith("urn:oid:"):
        if OID.fullmatch(reference) is None:
            return "value", msg.reference_format()
    elif "://" in reference:
        tail = _ABSOLUTE_TAIL.fullmatch(reference)
        if tail is not None and tail.group(1) in resource_types:
            found_type = tail.group(1)
    else:
        relative = _RELATIVE.fullmatch(reference) or _CONDITIONAL.fullmatch(reference)
        if relative is None or relative.group(1) not in resource_types:
            return "value", msg.reference_format()
        found_type = relative.group(1)
    if found_type is None and reference in bundle_entries:
        target_type = bundle_entries[reference].get("resourceType")
        found_type = target_type if isinstance(target_type, str) else None
    if found_type is None or not allowed or "Resource" in allowed or found_type in allowed:
        return None
    return "structure", msg.reference_target(found_type, ", ".join(sorted(allowed)))


def allowed_targets(node: Node, registry: Registry) -> frozenset[str]:
    """Resource types a Reference element may point at (from targetProfile; cached)."""
    cached = node.cache.get("targets")
    if cached is None:
        allowed: set[str] = set()
        for type_ref in node.types:
            for target in type_ref.targets:
                url = target.split("|", 1)[0]
                kind = registry.type_of(url)
                if kind is None and url.startswith(CORE_PREFIX):
                    kind = url[len(CORE_PREFIX) :]
                allowed.add(kind if kind else "Resource")
        cached = frozenset(allowed)
        node.cache["targets"] = cached
    assert isinstance(cached, frozenset)
    return cached


def local_references(resource: dict[str, Any]) -> set[str]:
    """Ids referred to as `#id` anywhere in the resource (references, canonicals, uris).

    A contained resource that refers to its container (`#`) makes every contained resource
    count as referenced, as dom-3 says. (Scans the serialised JSON: much faster than a walk.)
    """
    found = {m.decode("utf-8") for m in _LOCAL_REFERENCE.findall(dumps(resource))}
    if "" in found:
        for item in resource.get("contained") or ():
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                found.add(item["id"])
    return found


def coded_type(value: Any) -> str:
    """The coded type a JSON value looks like (for slice bindings, where it is unknown)."""
    if isinstance(value, dict):
        if "coding" in value or "text" in value:
            return "CodeableConcept"
        if "value" in value or "unit" in value:
            return "Quantity"
    return "Coding"


def codings(item: Any, code: str) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a coded value of type `code` (code, Coding, CodeableConcept,
    Quantity, string, uri); system None for a bare code."""
    if code in ("code", "string", "uri"):
        return [(None, item)] if isinstance(item, str) else []
    if not isinstance(item, dict):
        return []
    if code == "CodeableConcept":
        out: list[tuple[str | None, str]] = []
        listed = item.get("coding")
        for coding in listed if isinstance(listed, list) else ():
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                system = coding.get("system")
                out.append((system if isinstance(system, str) else None, coding["code"]))
        return out
    if isinstance(item.get("code"), str):
        system = item.get("system")
        return [(system if isinstance(system, str) else None, item["code"])]
    return []
