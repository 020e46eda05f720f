"""Object rules: what the walker needs to check one JSON object, derived once per element.

An `ObjectRule` maps every allowed JSON property name (choices expanded, `_name` for the
extensions of primitives) to its element and type, and lists the elements whose
cardinality must be counted. It is built once per (element, type) and cached on the node.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tsunagu.validation.invariants import applies
from tsunagu.validation.model import UNBOUNDED, Constraint, Node, TypeRef
from tsunagu.validation.primitives import CHECKS, PrimitiveCheck, is_primitive
from tsunagu.validation.registry import Registry

PRIMITIVE_EXTENSION = "__primitive_extension__"


PRIMITIVE, RESOURCE, EXTENSION, COMPLEX = 0, 1, 2, 3
CODED = frozenset({"code", "Coding", "CodeableConcept", "Quantity", "string", "uri"})


class ItemPlan:
    """How the walker checks one value of an element of one type, decided once: the kind of
    type, its format check, the node whose rule applies to an object (the type profile's
    root when the element has no inline children), and whether fixed, pattern or binding
    apply."""

    __slots__ = (
        "check",
        "checks_value",
        "code",
        "is_reference",
        "kind",
        "max_length",
        "node",
        "target",
        "type_ref",
    )

    def __init__(self, node: Node, type_ref: TypeRef, registry: Registry) -> None:
        code = type_ref.code
        self.node = node
        self.type_ref = type_ref
        self.code = code
        self.check = CHECKS.get(code)
        self.max_length = node.max_length
        self.target = node
        self.is_reference = code == "Reference"
        if self.check is not None:
            self.kind = PRIMITIVE
        elif code == "Resource" or code in registry.resource_types():
            self.kind = RESOURCE
        elif code == "Extension":
            self.kind = EXTENSION
        else:
            self.kind = COMPLEX
            if type_ref.profiles and not node.children:
                profile = registry.profile(type_ref.profiles[0])
                if profile is not None:
                    self.target = profile.root
        self.checks_value = (
            node.fixed is not None
            or node.pattern is not None
            or (node.binding is not None and code in CODED)
        )


@dataclass(frozen=True)
class Prop:
    node: Node
    type: TypeRef
    is_primitive_extension: bool = False
    # A single-valued primitive with no fixed/pattern/binding/maxLength: only its format
    # needs checking (the walker's fast path).
    plain_check: PrimitiveCheck | None = None
    # The element's occurrences are counted (it is one of the rule's `counted`).
    counted: bool = False
    # The value goes through `Walk.element` (an array, or sliced) rather than `Walk.item`.
    as_element: bool = False
    plan: ItemPlan | None = None  # made on first use (`plan_of`)


@dataclass(frozen=True)
class ObjectRule:
    props: dict[str, Prop]
    counted: tuple[Node, ...]  # elements with min > 0 or a max to enforce
    constraints: tuple[Constraint, ...]
    required: tuple[Node, ...] = ()  # the counted elements with min > 0
    # Of those, the ones with min 1 and one JSON name (present means counted at least once,
    # unless the value is an empty array), by name; and the others.
    required_names: frozenset[str] = frozenset()
    required_other: tuple[Node, ...] = ()
    prepared: tuple[Any, ...] | None = None  # invariants.Prepared, filled on first use
    # Some constraint needs fhirpathpy (whose user functions read `invariants.STATE`).
    fallback: bool = False


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
            as_element = target.repeats or target.slicing is not None
            props[json_name] = Prop(
                target, type_ref, plain_check=check if plain else None, as_element=as_element
            )
            if is_primitive(type_ref.code):
                props["_" + json_name] = Prop(target, type_ref, True, as_element=as_element)
        if (
            child.min > 0
            or child.max == 0
            or (child.repeats and child.max != UNBOUNDED)
            or (child.is_choice and not child.repeats)  # two JSON names of one choice
        ):
            counted.append(child)
    counted_nodes = set(counted)
    props = {
        name: replace(prop, counted=True) if prop.node in counted_nodes else prop
        for name, prop in props.items()
    }
    unique: dict[str, Constraint] = {}
    for constraint in constraints:
        if applies(constraint):
            unique.setdefault(constraint.key, constraint)
    required = tuple(child for child in counted if child.min > 0)
    simple = {c: c.name for c in required if c.min == 1 and not c.is_choice and c.name in props}
    return ObjectRule(
        props,
        tuple(counted),
        tuple(unique.values()),
        required=required,
        required_names=frozenset(simple.values()),
        required_other=tuple(c for c in required if c not in simple),
    )


def rule_for(node: Node, type_code: str, registry: Registry) -> ObjectRule:
    """The cached rule of `node` for `type_code`."""
    key = "rule:" + type_code
    found = node.cache.get(key)
    if found is None:
        found = build_rule(node, type_code, registry)
        node.cache[key] = found
    assert isinstance(found, ObjectRule)
    return found


def plan_of(prop: Prop, registry: Registry) -> ItemPlan:
    """The item plan of a property (made once, on first use)."""
    plan = prop.plan
    if plan is None:
        plan = ItemPlan(prop.node, prop.type, registry)
        object.__setattr__(prop, "plan", plan)
    return plan


def slice_plan(sliced: Node, position: int, registry: Registry) -> ItemPlan | None:
    """The item plan of a typed slice (cached on the sliced node); None for a slice without
    its own type (it takes the sliced element's)."""
    plans: dict[int, ItemPlan] = sliced.cache.setdefault("slice_plans", {})
    plan = plans.get(position)
    if plan is None:
        slice_node = sliced.slices[position]
        if not slice_node.types:
            return None
        plan = plans[position] = ItemPlan(slice_node, slice_node.types[0], registry)
    return plan
