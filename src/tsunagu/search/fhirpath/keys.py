"""Which top-level JSON keys of a resource an expression can start from, per resource type.

A compiled expression (see `compiler`) that only navigates reads, in its first member step
from the resource, the JSON keys the element map gives for that type: `Observation.value as
Quantity` reads `valueQuantity` and nothing else. If the resource has none of those keys, the
expression selects nothing, so indexing need not evaluate it. This is exact where
`search.roots` (which works on the text of an expression) can only name `value`.

The analysis mirrors `Compiler.compile` and gives up (None) wherever an expression could
produce a value from nothing (`exists()`, `empty()`, operators, literals, `%` variables).
"""

from __future__ import annotations

from tsunagu.search.fhirpath.schema import Schema
from tsunagu.search.fhirpath.syntax import (
    Ast,
    Binary,
    Call,
    Ident,
    Index,
    Member,
    TypeOp,
    type_argument,
    union_operands,
)

# What a sub-expression selects: the resource itself (SELF), or nothing unless the resource
# has one of these keys (a frozenset; empty: nothing at all), or anything (None).
SELF = "self"
Keys = frozenset[str] | str | None

# Functions that select nothing from nothing, whatever their arguments.
_EMPTY_ON_EMPTY = frozenset(
    {"where", "select", "first", "last", "tail", "distinct", "resolve", "extension"}
)


def branch_keys(ast: Ast, schema: Schema, resource_type: str) -> list[Keys] | None:
    """Per top-level union branch: SELF or the keys it starts from; None if one is unknown."""
    found: list[Keys] = []
    for branch in union_operands(ast):
        keys = _Keys(schema, resource_type).of(branch, top=True)
        if keys is None:
            return None
        found.append(keys)
    return found


def start_keys(ast: Ast, schema: Schema, resource_type: str) -> frozenset[str] | None:
    """The keys the whole expression starts from (None: unknown, or the resource itself)."""
    keys = _Keys(schema, resource_type).of(ast, top=True)
    return keys if isinstance(keys, frozenset) else None


class _Keys:
    def __init__(self, schema: Schema, resource_type: str) -> None:
        self.schema = schema
        self.resource_type = resource_type

    def of(self, node: Ast, top: bool) -> Keys:
        if isinstance(node, Ident):
            if top and node.name[:1].isupper():
                return SELF if self.schema.is_a(self.resource_type, node.name) else frozenset()
            return self.member(SELF, node.name, None)
        if isinstance(node, Member):
            return self.member(self.of(node.base, top), node.name, None)
        if isinstance(node, Call):
            if node.base is None or len(node.args) > 1:
                return None
            if node.name in ("as", "ofType") and len(node.args) == 1:
                return self.selection(node.base, type_argument(node.args[0]), top)
            base = self.of(node.base, top)
            if node.name == "extension" and len(node.args) == 1 and base == SELF:
                return frozenset({"extension"})
            if node.name in _EMPTY_ON_EMPTY or (node.name == "is" and len(node.args) == 1):
                return None if base == SELF else base
            return None
        if isinstance(node, Index):
            base = self.of(node.base, top)
            return None if base == SELF else base
        if isinstance(node, TypeOp):
            if node.op == "as":
                return self.selection(node.operand, node.type_name, top)
            base = self.of(node.operand, top)
            return None if base == SELF else base
        if isinstance(node, Binary) and node.op == "|":
            keys: set[str] = set()
            for operand in union_operands(node):
                found = self.of(operand, top)
                if not isinstance(found, frozenset):
                    return None
                keys |= found
            return frozenset(keys)
        return None  # literals, variables, other operators: may select from nothing

    def selection(self, operand: Ast, type_name: str, top: bool) -> Keys:
        """`operand as T`: as `Compiler.selection`, filtering the member step by type."""
        if isinstance(operand, Member):
            return self.member(self.of(operand.base, top), operand.name, type_name)
        if isinstance(operand, Ident) and not (top and operand.name[:1].isupper()):
            return self.member(SELF, operand.name, type_name)
        base = self.of(operand, top)
        return None if base == SELF else base

    def member(self, base: Keys, name: str, type_name: str | None) -> Keys:
        if base != SELF:
            return base  # children of what the base selected: the same keys
        is_a = self.schema.is_a
        fields = self.schema.fields(self.resource_type, name)
        if type_name is not None:
            fields = tuple(f for f in fields if not f[1] or is_a(f[1], type_name))
        return frozenset(json_name for json_name, _key in fields)
