"""Type lookups over the vendored element map of one Definitions, cached.

Type keys say what a value is during evaluation (see `values.Node`); this module answers which
children a member name selects, whether a type key is of a type, and what a reference
resolves to.
"""

from __future__ import annotations

import re
from typing import Any

from tsunagu.fhir.definitions import Definitions, ElementInfo
from tsunagu.search.fhirpath.values import Node, Root, TypedValue

_RESOURCE_BASES = frozenset({"Resource", "DomainResource"})
_SYSTEM_TYPE_OF_PRIMITIVE = {
    "boolean": "Boolean",
    "integer": "Integer",
    "positiveInt": "Integer",
    "unsignedInt": "Integer",
    "decimal": "Decimal",
    "date": "Date",
    "dateTime": "DateTime",
    "instant": "DateTime",
    "time": "Time",
}  # every other primitive is a System.String
_REFERENCE = re.compile(
    r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


def reference_type(reference: str, defs: Definitions) -> str | None:
    """The resource type a literal reference or canonical URL names, if any."""
    match = _REFERENCE.search(reference.partition("|")[0])
    if match is None or not defs.is_resource_type(match.group(1)):
        return None
    return match.group(1)


class Schema:
    """Cached type questions about the element map of one Definitions."""

    def __init__(self, defs: Definitions) -> None:
        self.defs = defs
        # TypedValue's frozen __init__ costs about 1 µs; set its slots directly instead.
        slots = vars(TypedValue)
        self._set_value = slots["value"].__set__
        self._set_type = slots["fhir_type"].__set__
        self._set_owner = slots["owner"].__set__
        self._fields: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._is_a: dict[tuple[str, str], bool] = {}
        self._typing: dict[str, tuple[str | None, str | None]] = {}

    def fields(self, key: str, name: str) -> tuple[tuple[str, str], ...]:
        """(JSON name, child type key) pairs that member `name` selects on a `key` value."""
        found = self._fields.get((key, name))
        if found is None:
            found = self._fields[(key, name)] = self._find_fields(key, name)
        return found

    def _find_fields(self, key: str, name: str) -> tuple[tuple[str, str], ...]:
        elements = self.defs.element_types(key) if key else {}
        info = elements.get(name)
        if info is not None and info.choice_of is None:
            return ((name, _child_key(info)),)
        choices = tuple(
            (element.name, _child_key(element))
            for element in elements.values()
            if element.choice_of == name
        )
        if choices:
            return choices
        if info is not None:  # a concrete choice name such as `valueQuantity`
            return ((name, _child_key(info)),)
        return ((name, ""),)  # unknown type or element: plain lookup, type unknown

    def typing(self, key: str) -> tuple[str | None, str | None]:
        """(FHIR type code, backbone owner key) of a type key."""
        found = self._typing.get(key)
        if found is None:
            found = self._typing[key] = self._find_typing(key)
        return found

    def _find_typing(self, key: str) -> tuple[str | None, str | None]:
        if not key:
            return None, None
        if "." not in key:
            return key, None
        parent, _, name = key.rpartition(".")
        info = self.defs.element_types(parent).get(name)
        return (info.types[0] if info is not None else None), key

    def is_a(self, key: str, type_name: str) -> bool:
        """True if a value of type key `key` is of type `type_name` (`FHIR.X`/`System.X`)."""
        found = self._is_a.get((key, type_name))
        if found is None:
            found = self._is_a[(key, type_name)] = self._find_is_a(key, type_name)
        return found

    def _find_is_a(self, key: str, type_name: str) -> bool:
        namespace, _, name = type_name.rpartition(".")
        fhir_type = self.typing(key)[0]
        if fhir_type is None:
            return False
        if namespace == "FHIR" or (not namespace and self.defs.is_type(name)):
            return fhir_type == name or self.defs.is_subtype(fhir_type, name)
        if namespace in ("", "System"):
            if self.defs.is_primitive(fhir_type):
                return _SYSTEM_TYPE_OF_PRIMITIVE.get(fhir_type, "String") == name
            return name == "Quantity" and self.defs.is_subtype(fhir_type, "Quantity")
        return False

    def typed(self, nodes: list[Node]) -> list[TypedValue]:
        """Public typed values of evaluation nodes."""
        cached, new = self._typing, object.__new__
        set_value, set_type, set_owner = self._set_value, self._set_type, self._set_owner
        out: list[TypedValue] = []
        for value, key in nodes:
            typing = cached.get(key) or self.typing(key)
            typed = new(TypedValue)
            set_value(typed, value)
            set_type(typed, typing[0])
            set_owner(typed, typing[1])
            out.append(typed)
        return out

    def resolve(self, value: Any, root: Root) -> Node | None:
        """The node a Reference (or canonical) resolves to; None if it cannot."""
        reference = value.get("reference") if isinstance(value, dict) else value
        if not isinstance(reference, str):
            return None
        if reference.startswith("#"):
            if reference == "#":
                return root, resource_key(root)
            for contained in root.get("contained", ()):
                if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                    return contained, resource_key(contained)
            return None
        target = reference_type(reference, self.defs)
        return None if target is None else ({"resourceType": target}, target)


def _child_key(info: ElementInfo) -> str:
    if info.owner is not None:
        return info.owner
    code = info.types[0]
    return "" if code in _RESOURCE_BASES else code  # "": typed by resourceType at runtime


def resource_key(value: Any) -> str:
    """The `resourceType` of a JSON value; "" if it is not a resource."""
    if isinstance(value, dict):
        kind = value.get("resourceType")
        if isinstance(kind, str):
            return kind
    return ""
