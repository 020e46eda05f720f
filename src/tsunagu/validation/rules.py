"""Object rules: what the walker needs to check one JSON object, derived once per element.

An `ObjectRule` maps every allowed JSON property name (choices expanded, `_name` for the
extensions of primitives) to its element and type, and lists the elements whose
cardinality must be counted. It is built once per (element, type) and cached on the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tsunagu.validation.invariants import applies
from tsunagu.validation.model import UNBOUNDED, Constraint, Node, TypeRef
from tsunagu.validation.primitives import CHECKS, PrimitiveCheck, is_primitive
from tsunagu.validation.registry import Registry

PRIMITIVE_EXTENSION = "__primitive_extension__"


@dataclass(frozen=True)
class Prop:
    node: Node
    type: TypeRef
    is_primitive_extension: bool = False
    # A single-valued primitive with no fixed/pattern/binding/maxLength: only its format
    # needs checking (the walker's fast path).
    plain_check: PrimitiveCheck | None = None


@dataclass(frozen=True)
class ObjectRule:
    props: dict[str, Prop]
    counted: tuple[Node, ...]  # elements with min > 0 or a max to enforce
    constraints: tuple[Constraint, ...]
    prepared: tuple[Any, ...] | None = None  # invariants.Prepared, filled on first use


def _is_type_slice(node: Node, slice_node: Node) -> bool:
    return node.is_choice and bool(slice_node.slice_name) and not slice_node.children


def build_rule(node: Node, type_code: str, registry: Registry) -> ObjectRule:
    """The rule of an object typed `type_code` at `node` (inline children or the type's)."""
    constraints: list[Constraint] = list(node.constraints)
    if type_code == PRIMITIVE_EXTENSION:
        base = registry.base("Element")
        children = {k: v for k, v in node.children.items() if k != "value"} or (
            base.root.children if base else {}
        )
    elif node.children:
        children = node.children
        base = registry.base(type_code)
        if base is not None and base.kind == "complex-type":
            constraints.extend(base.root.constraints)
    else:
        base = registry.base(type_code)
        children = base.root.children if base is not None else {}
        if base is not None:
            constraints.extend(base.root.constraints)
    props: dict[str, Prop] = {}
    counted: list[Node] = []
    for child in children.values():
        names = child.json_names()
        for slice_node in child.slices:
            if child.is_choice and slice_node.slice_name in names:
                names[slice_node.slice_name] = names[slice_node.slice_name]
        type_slices = {
            s.slice_name: s for s in child.slices if child.is_choice and s.slice_name in names
        }
        for json_name, type_ref in names.items():
            target = type_slices.get(json_name, child)
            if target is not child and target.types:
                type_ref = target.types[0]
            check = CHECKS.get(type_ref.code)
            plain = (
                check is not None
                and not target.repeats
                and target.fixed is None
                and target.pattern is None
                and target.binding is None
                and not target.max_length
                and target.slicing is None
            )
            props[json_name] = Prop(target, type_ref, plain_check=check if plain else None)
            if is_primitive(type_ref.code):
                props["_" + json_name] = Prop(target, type_ref, True)
        if (
            child.min > 0
            or child.max == 0
            or (child.repeats and child.max != UNBOUNDED)
            or (child.is_choice and not child.repeats)  # two JSON names of one choice
        ):
            counted.append(child)
    unique: dict[str, Constraint] = {}
    for constraint in constraints:
        if applies(constraint):
            unique.setdefault(constraint.key, constraint)
    return ObjectRule(props, tuple(counted), tuple(unique.values()))


def rule_for(node: Node, type_code: str, registry: Registry) -> ObjectRule:
    """The cached rule of `node` for `type_code`."""
    key = "rule:" + type_code
    found = node.cache.get(key)
    if found is None:
        found = build_rule(node, type_code, registry)
        node.cache[key] = found
    assert isinstance(found, ObjectRule)
    return found
