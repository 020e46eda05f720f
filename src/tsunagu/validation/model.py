"""Compiled element definitions: a StructureDefinition snapshot as a tree of `Node`s.

`compile_snapshot` turns the flat `snapshot.element` list into a tree once; everything the
walker needs per element (JSON property names, cardinality, fixed/pattern values, bindings,
slicing, constraints) is precomputed here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

UNBOUNDED = sys.maxsize
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
BACKBONE_TYPES = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True)
class TypeRef:
    """One allowed type of an element, with its profiles and reference target profiles."""

    code: str
    profiles: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constraint:
    key: str
    severity: str
    human: str
    expression: str
    source: str


@dataclass(frozen=True)
class Discriminator:
    type: str  # value | pattern | type | profile | exists
    path: str


@dataclass(frozen=True)
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str  # open | closed | openAtEnd
    ordered: bool


@dataclass(eq=False)
class Node:
    """One element definition with its children (inline in the snapshot) and slices."""

    path: str  # element path as defined (`Observation.value[x]`)
    name: str  # last path segment (`value[x]`)
    min: int
    max: int
    repeats: bool  # JSON array (the base definition's max is not "1")
    types: tuple[TypeRef, ...]
    slice_name: str | None = None
    content_ref: str | None = None
    fixed: tuple[str, Any] | None = None  # (type suffix, value)
    pattern: tuple[str, Any] | None = None
    binding: tuple[str, str] | None = None  # (strength, value set canonical)
    constraints: tuple[Constraint, ...] = ()
    max_length: int | None = None
    slicing: Slicing | None = None
    children: dict[str, Node] = field(default_factory=dict)
    slices: list[Node] = field(default_factory=list)
    # Filled lazily by the walker (object rules per type code).
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    @property
    def stem(self) -> str:
        return self.name[:-3] if self.name.endswith("[x]") else self.name

    def type_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)

    def json_names(self) -> dict[str, TypeRef]:
        """JSON property name -> type: `valueQuantity` for a choice, else the name itself."""
        if not self.is_choice:
            return {self.name: self.types[0] if self.types else TypeRef("Element")}
        stem = self.stem
        return {stem + t.code[0].upper() + t.code[1:]: t for t in self.types}


def _type_code(entry: Json, base_path: str) -> str:
    code = str(entry.get("code", ""))
    if code in SYSTEM_TYPES or code.startswith("http://hl7.org/fhirpath/"):
        if base_path == "Resource.id":
            return "id"
        for ext in entry.get("extension", ()):
            if ext.get("url") == FHIR_TYPE_EXT and isinstance(ext.get("valueUrl"), str):
                return str(ext["valueUrl"])
        return SYSTEM_TYPES.get(code, "string")
    return code


def _type_refs(element: Json) -> tuple[TypeRef, ...]:
    base_path = str(element.get("base", {}).get("path", ""))
    refs = []
    for entry in element.get("type", ()):
        refs.append(
            TypeRef(
                _type_code(entry, base_path),
                tuple(entry.get("profile", ())),
                tuple(entry.get("targetProfile", ())),
            )
        )
    return tuple(refs)


def _max(text: Any) -> int:
    return UNBOUNDED if text in (None, "*") else int(text)


def _prefixed(element: Json, prefix: str) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :], value
    return None


def _constraints(element: Json) -> tuple[Constraint, ...]:
    found = []
    for item in element.get("constraint", ()):
        expression = item.get("expression")
        if not expression:
            continue
        found.append(
            Constraint(
                str(item["key"]),
                str(item.get("severity", "error")),
                str(item.get("human", "")),
                str(expression),
                str(item.get("source", "")),
            )
        )
    return tuple(found)


def _slicing(element: Json) -> Slicing | None:
    slicing = element.get("slicing")
    if not slicing:
        return None
    discriminators = tuple(
        Discriminator(str(d.get("type")), str(d.get("path")))
        for d in slicing.get("discriminator", ())
    )
    return Slicing(discriminators, str(slicing.get("rules", "open")), bool(slicing.get("ordered")))


def make_node(element: Json) -> Node:
    path = str(element["path"])
    base = element.get("base") or {}
    base_max = base.get("max", element.get("max"))
    binding = element.get("binding")
    content_ref = element.get("contentReference")
    return Node(
        path=path,
        name=path.rsplit(".", 1)[-1],
        min=int(element.get("min", 0)),
        max=_max(element.get("max")),
        repeats=base_max not in ("1", "0"),
        types=_type_refs(element),
        slice_name=element.get("sliceName"),
        content_ref=content_ref.split("#", 1)[-1] if isinstance(content_ref, str) else None,
        fixed=_prefixed(element, "fixed"),
        pattern=_prefixed(element, "pattern"),
        binding=(
            (str(binding.get("strength")), str(binding["valueSet"]))
            if isinstance(binding, dict) and binding.get("valueSet")
            else None
        ),
        constraints=_constraints(element),
        max_length=element.get("maxLength"),
        slicing=_slicing(element),
    )


def _parent_id(element: Json) -> str:
    """The id of the parent element (slice names may themselves contain dots)."""
    element_id = str(element.get("id") or element["path"])
    name = str(element["path"]).rsplit(".", 1)[-1]
    slice_name = element.get("sliceName")
    suffix = f".{name}:{slice_name}" if slice_name else f".{name}"
    if element_id.endswith(suffix):
        return element_id[: -len(suffix)]
    return element_id.rsplit(".", 1)[0]


def _is_reslice(by_id: dict[str, Node], element: Json) -> bool:
    """`a:b/c` re-slices slice `b` only if `b` exists (JP-CLINS uses `/` in plain names)."""
    element_id = str(element.get("id") or element["path"])
    head = element_id.rsplit("/", 1)[0]
    return head in by_id


def compile_snapshot(elements: list[Json]) -> Node:
    """The tree of a snapshot: children by name, slices attached to their sliced element.

    Re-slices (`name:slice/reslice` where `name:slice` exists) are left out; see
    docs/validation.md.
    """
    root = make_node(elements[0])
    by_id: dict[str, Node] = {str(elements[0].get("id", elements[0]["path"])): root}
    by_path: dict[str, Node] = {root.path: root}
    for element in elements[1:]:
        element_id = str(element.get("id") or element["path"])
        slice_name = element.get("sliceName")
        if isinstance(slice_name, str) and "/" in slice_name and _is_reslice(by_id, element):
            continue
        parent_id = _parent_id(element)
        parent = by_id.get(parent_id)
        if parent is None:
            continue
        node = make_node(element)
        by_id[element_id] = node
        segment = element_id[len(parent_id) + 1 :]
        if ":" in segment:
            sliced = parent.children.get(segment.split(":", 1)[0])
            if sliced is None:
                continue
            sliced.slices.append(node)
        else:
            parent.children[node.name] = node
            by_path.setdefault(node.path, node)
    for node in list(by_path.values()):
        _link_content_refs(node, by_path)
    return root


def _link_content_refs(node: Node, by_path: dict[str, Node]) -> None:
    if node.content_ref and not node.children:
        target = by_path.get(node.content_ref)
        if target is not None:
            node.children = target.children
            node.types = target.types or (TypeRef("BackboneElement"),)
            node.constraints = node.constraints or target.constraints
    for child in node.slices:
        _link_content_refs(child, by_path)


def descendant(node: Node, path: str) -> Node | None:
    """The inline descendant at a dotted path (`coding.system`); None if not inline."""
    current: Node | None = node
    for part in path.split("."):
        if current is None:
            return None
        child = current.children.get(part) or current.children.get(part + "[x]")
        current = child
    return current
